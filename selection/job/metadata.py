"""Figures about the selected rows, for selection_metadata.json and the job's summary line."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from selection.engine.scores import pseudo_label
from selection.job.config import JobParams
from selection.names import (
    CONFIDENCE,
    PSEUDO_LABEL,
    UNCERTAINTY_SCORE,
)
from selection.params import ActiveLearningParams
from selection.strategies import TopKPerClass


@dataclass
class SelectionSummary:
    selected_rows: int
    per_class: dict[str, int]
    score: dict[str, float | None]
    label_figures: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def summarize(rows: DataFrame, job: JobParams, num_classes: int) -> SelectionSummary:
    """One small aggregation over the selected rows, grouped by predicted class.

    The totals are summed on the driver from at most `num_classes` groups, so a large selection
    is read once here, not once per figure.
    """
    params = job.selection
    ssl = job.is_ssl
    predicted = F.col(PSEUDO_LABEL) if ssl else pseudo_label(params.scores.probabilities(rows))
    score_col = F.col(CONFIDENCE if ssl else UNCERTAINTY_SCORE)
    aggs = [
        F.count(F.lit(1)).alias("n"),
        F.min(score_col).alias("min"),
        F.sum(score_col).alias("sum"),
        F.max(score_col).alias("max"),
    ]
    if job.label_field:
        label = F.col(job.label_field).cast("double")
        aggs += [
            F.count(label).alias("labelled"),
            F.count(F.when(label == predicted.cast("double"), 1)).alias("agree"),
        ]
    groups = rows.groupBy(predicted.alias("c")).agg(*aggs).collect()
    counts = {int(g["c"]): int(g["n"]) for g in groups}
    n = sum(counts.values())
    head: dict[str, float | None] = {
        "min": min((g["min"] for g in groups), default=None),
        "max": max((g["max"] for g in groups), default=None),
        "mean": sum(g["sum"] for g in groups) / n if n else None,
    }
    labelled = sum(int(g["labelled"]) for g in groups) if job.label_field else 0
    agree = sum(int(g["agree"]) for g in groups) if job.label_field else 0
    per_class = {str(c): counts.get(c, 0) for c in range(num_classes)}
    summary = SelectionSummary(
        selected_rows=n,
        per_class=per_class,
        score={
            "name": CONFIDENCE if ssl else UNCERTAINTY_SCORE,  # type: ignore[dict-item]
            "min": head["min"],
            "mean": head["mean"],
            "max": head["max"],
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
