"""Figures about the selected rows, for selection_metadata.json and the job's summary line."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import Column, DataFrame, Observation
from pyspark.sql import functions as F

from selection.engine.observed import observe_once, observed_once
from selection.engine.scores import TREE_TERMS, pseudo_label
from selection.job.checks import DRIVER_VALUES_MAX_ROWS
from selection.job.config import JobParams
from selection.names import (
    CONFIDENCE,
    PSEUDO_LABEL,
    UNCERTAINTY_SCORE,
)
from selection.params import ActiveLearningParams, StrategyParams
from selection.strategies import ConfidenceThreshold, TopKPerClass


@dataclass
class SelectionSummary:
    selected_rows: int
    per_class: dict[str, int]
    score: dict[str, float | None]
    label_figures: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def most_rows(params: StrategyParams, num_classes: int) -> int | None:
    """The most rows `params` can select; None when nothing caps the selection."""
    if isinstance(params, ActiveLearningParams):
        return params.batch_size
    if isinstance(params, TopKPerClass):
        return params.max_samples or params.k * num_classes
    if isinstance(params, ConfidenceThreshold):
        return params.max_samples or params.max_per_class * num_classes or None
    return None


def _predicted_and_score(rows: DataFrame, job: JobParams) -> tuple[Column, Column]:
    if job.is_ssl:
        return F.col(PSEUDO_LABEL), F.col(CONFIDENCE)
    return pseudo_label(job.selection.scores.probabilities(rows)), F.col(UNCERTAINTY_SCORE)


def _label_counts(job: JobParams, predicted: Column) -> list[Column]:
    if not job.label_field:
        return []
    label = F.col(job.label_field).cast("double")
    return [
        F.count(label).alias("labelled"),
        F.count(F.when(label == predicted.cast("double"), 1)).alias("agree"),
    ]


def summarize(rows: DataFrame, job: JobParams, num_classes: int) -> SelectionSummary:
    """One small aggregation over the selected rows, grouped by predicted class.

    The totals are summed on the driver from at most `num_classes` groups, so a large selection
    is read once here, not once per figure.
    """
    predicted, score_col = _predicted_and_score(rows, job)
    aggs = [
        F.count(F.lit(1)).alias("n"),
        F.min(score_col).alias("min"),
        F.sum(score_col).alias("sum"),
        F.max(score_col).alias("max"),
        *_label_counts(job, predicted),
    ]
    groups = rows.groupBy(predicted.alias("c")).agg(*aggs).collect()
    has_label = bool(job.label_field)
    return _summary(
        job,
        num_classes,
        counts={int(g["c"]): int(g["n"]) for g in groups},
        low=min((g["min"] for g in groups), default=None),
        high=max((g["max"] for g in groups), default=None),
        total=sum(g["sum"] for g in groups) if groups else None,
        labelled=sum(int(g["labelled"]) for g in groups) if has_label else 0,
        agree=sum(int(g["agree"]) for g in groups) if has_label else 0,
    )


def observable(bound: int | None, num_classes: int) -> bool:
    """Whether the summary of a selection of at most `bound` rows can be observed while it is
    written: one count per class up to TREE_TERMS classes (a thousand aggregates run the
    observation out of memory), beyond that the few predicted classes themselves."""
    if bound is None:
        return False
    return num_classes <= TREE_TERMS or bound <= DRIVER_VALUES_MAX_ROWS


def observe_summary(
    rows: DataFrame, job: JobParams, num_classes: int
) -> tuple[DataFrame, Callable[[], SelectionSummary | None]]:
    """`rows` observed for the summary while they are written (no pass of their own), and
    what reads it after that action: None when the figures cannot be used (see
    `observed_once`). For a bounded selection only (`observable`)."""
    predicted, score_col = _predicted_and_score(rows, job)
    observation = Observation("selection_summary")
    few = num_classes <= TREE_TERMS
    per_class = (
        [F.count(F.when(predicted == c, 1)).alias(f"c{c}") for c in range(num_classes)]
        if few
        # As JSON text: the observation hands arrays back as JVM objects.
        else [F.to_json(F.collect_list(predicted)).alias("labels")]
    )
    metrics = [
        F.min(score_col).alias("min"),
        F.sum(score_col).alias("sum"),
        F.max(score_col).alias("max"),
        *_label_counts(job, predicted),
        *per_class,
    ]
    observed = observe_once(rows, observation, *metrics)

    def read() -> SelectionSummary | None:
        got = observed_once(observation)
        if got is None:
            return None
        if few:
            counts = {c: int(got[f"c{c}"]) for c in range(num_classes) if got[f"c{c}"]}
        else:
            counts = {int(c): n for c, n in Counter(json.loads(got["labels"])).items()}
        return _summary(
            job,
            num_classes,
            counts=counts,
            low=got["min"],
            high=got["max"],
            total=got["sum"],
            labelled=int(got.get("labelled", 0)),
            agree=int(got.get("agree", 0)),
        )

    return observed, read


def _summary(
    job: JobParams,
    num_classes: int,
    *,
    counts: dict[int, int],
    low: float | None,
    high: float | None,
    total: float | None,
    labelled: int,
    agree: int,
) -> SelectionSummary:
    ssl = job.is_ssl
    n = sum(counts.values())
    per_class = {str(c): counts.get(c, 0) for c in range(num_classes)}
    summary = SelectionSummary(
        selected_rows=n,
        per_class=per_class,
        score={
            "name": CONFIDENCE if ssl else UNCERTAINTY_SCORE,  # type: ignore[dict-item]
            "min": low if n else None,
            "mean": total / n if n and total is not None else None,
            "max": high if n else None,
        },
    )
    if job.label_field:
        key = "pseudo_label_accuracy" if ssl else "share_misclassified"
        value = (agree if ssl else labelled - agree) / labelled if labelled else None
        summary.label_figures = {
            "label_field": job.label_field,
            "rows_with_numeric_label": labelled,
            key: value if labelled else None,
        }
        if labelled < summary.selected_rows:
            summary.warnings.append(
                f"{summary.selected_rows - labelled} selected row(s) have no numeric label in "
                f"'{job.label_field}'; they are left out of {key}"
            )
    summary.warnings.extend(_shortfall_warnings(job, summary))
    return summary


def _shortfall_warnings(job: JobParams, summary: SelectionSummary) -> list[str]:
    params = job.selection
    out: list[str] = []
    if summary.selected_rows == 0:
        out.append("zero rows selected")
        return out
    if isinstance(params, ActiveLearningParams) and summary.selected_rows < params.batch_size:
        out.append(
            f"BATCH_SIZE={params.batch_size} but only {summary.selected_rows} selectable rows "
            "exist; selected all of them"
        )
    if isinstance(params, TopKPerClass) and not params.max_samples:
        short = {c: n for c, n in summary.per_class.items() if n < params.k}
        if short:
            listed = ", ".join(f"class {c}: {n}" for c, n in sorted(short.items())[:10])
            out.append(
                f"K_PER_CLASS={params.k} but some predicted classes have fewer rows "
                f"({listed}); selected what exists"
            )
    return out


def build_metadata(
    *,
    job: JobParams,
    job_type: str,
    input_rows: int,
    summary: SelectionSummary,
    figures: dict[str, Any],
    started: dt.datetime,
    duration_seconds: float,
    spark_version: str,
    inputs: dict[str, Any],
    warnings: list[str],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The metadata document; `extra` adds top-level keys (calibration, class thresholds)."""
    return {
        "strategy": job.strategy.value,
        "use_case": job.use_case.value,
        "job_type": job_type,
        "parameters": job.to_json(),
        "input_rows": input_rows,
        "selected_rows": summary.selected_rows,
        "per_class_selected": summary.per_class,
        "selection_score": summary.score,
        "validation": summary.label_figures or None,
        "strategy_figures": figures,
        "random_seed": job.selection.seed,
        "timestamp": started.astimezone(dt.UTC).isoformat(timespec="seconds"),
        "duration_seconds": round(duration_seconds, 3),
        "spark_version": spark_version,
        "inputs": inputs,
        "warnings": warnings,
        **(extra or {}),
    }
