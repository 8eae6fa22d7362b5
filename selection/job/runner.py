"""One selection run: read, validate, score, select, write; each phase logged on stderr."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from selection.errors import SelectionConfigError, SelectionInputError
from selection.job.checks import DataChecks, check_schema, duplicate_ids, raise_on_duplicates
from selection.job.io import read_predictions, redact
from selection.job.metadata import build_metadata, summarize
from selection.job.output import OutputTarget, stage_json, stage_rows, staged
from selection.names import AL_STRATEGIES, CONTAINER_INPUT_PATHS, CONTAINER_OUTPUT_PATHS, Strategy
from selection.params import SelectionParams
from selection.strategies import score_spec, select

log = logging.getLogger("selection")


@dataclass(frozen=True)
class JobPaths:
    input: str = CONTAINER_INPUT_PATHS["evaluation_data"]
    output: str = CONTAINER_OUTPUT_PATHS["selected_samples"]
    metadata_output: str = CONTAINER_OUTPUT_PATHS["selection_metadata"]
    labeled_data: str | None = None


@contextmanager
def phase(name: str) -> Iterator[dict[str, Any]]:
    """Log `name` with whatever the body records in the yielded dict, plus its seconds."""
    facts: dict[str, Any] = {}
    start = time.monotonic()
    yield facts
    detail = " ".join(f"{k}={v}" for k, v in facts.items())
    log.info("%-8s %s seconds=%.2f", name, detail, time.monotonic() - start)


def _read_labeled(
    spark: SparkSession, params: SelectionParams, path: str | None
) -> DataFrame | None:
    if not path:
        return None
    labeled = read_predictions(spark, path, id_field=params.id_field).df
    if params.id_field not in labeled.columns:
        raise SelectionInputError(
            f"labeled data {redact(path)!r} has no id column '{params.id_field}'"
        )
    return labeled


def run(
    spark: SparkSession,
    params: SelectionParams,
    paths: JobPaths,
    *,
    job_type: str,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Run one selection and commit its rows and metadata; returns the metadata document."""
    started = dt.datetime.now(dt.UTC)
    clock = time.monotonic()
    if paths.output.rstrip("/") == paths.metadata_output.rstrip("/"):
        raise SelectionConfigError("--output and --metadata-output must be different paths")
    if paths.input.rstrip("/") in (paths.output.rstrip("/"), paths.metadata_output.rstrip("/")):
        raise SelectionConfigError("the output paths must differ from the input path")
    rows_out = OutputTarget(spark, paths.output, overwrite)
    meta_out = OutputTarget(spark, paths.metadata_output, overwrite)
    rows_out.ensure_writable()
    meta_out.ensure_writable()
    rows_out.clean_stale_staging()
    meta_out.clean_stale_staging()
    scores = score_spec(params)

    with phase("read") as facts:
        predictions = read_predictions(
            spark, paths.input, id_field=params.id_field, label_field=params.label_field
        )
        labeled = _read_labeled(spark, params, paths.labeled_data)
        facts.update(
            format=predictions.format,
            files=len(predictions.files),
            bytes=sum(f.size for f in predictions.files),
            path=redact(paths.input),
        )
    warnings = list(predictions.warnings)

    with phase("validate") as facts:
        df = predictions.df
        check_schema(df, id_field=params.id_field, label_field=params.label_field)
        score_names = scores.columns(df)
        features: list[str] = []
        if params.strategy in (Strategy.DIVERSITY, Strategy.BADGE):
            features = _feature_columns(df, params, score_names)
        checks = DataChecks(
            id_field=params.id_field,
            score_names=score_names,
            raw_scores=scores.raw(df),
            tolerance=params.prob_sum_tolerance,
            normalize=params.normalize_scores,
            corrupt_column=predictions.corrupt_column,
            feature_columns=features,
            separator=predictions.separator,
        )
        observed = checks.attach(df)
        if predictions.corrupt_column:
            observed = observed.drop(predictions.corrupt_column)
        facts.update(
            schema="ok",
            id=params.id_field,
            classes=len(score_names),
            data_checks="ride along with the selection pass",
        )

    with phase("score") as facts:
        # Scores are column expressions: Spark computes them inside the select scan.
        facts.update(
            strategy=params.strategy.value, classes=len(score_names), computed="in the select scan"
        )

    with phase("select") as facts:
        embedding = params.strategy in (Strategy.DIVERSITY, Strategy.BADGE)
        log.info(
            "select   %s; data checks ride along",
            "several passes over the embedding" if embedding else "scanning the input once",
        )
        try:
            selected = select(observed, params, labeled=labeled)
        except SelectionInputError:
            # The embedding passes fail on the first bad feature they meet; a malformed line
            # or a bad score is the truer cause, so on this failure path only the data checks
            # get a scan of their own and report first.
            observed.agg(F.count(F.lit(1))).collect()
            checks.verify()
            raise
        # A selection can be most of the input (uncapped confidence_threshold): keep it on disk.
        rows = selected.rows.persist(StorageLevel.DISK_ONLY)
        summary = summarize(rows, params, scores, len(score_names))
        input_rows = checks.verify()
        facts.update(input_rows=input_rows, selected_rows=summary.selected_rows)
        if "passes" in selected.figures:
            facts.update(passes=selected.figures["passes"])

    with phase("validate") as facts:
        if summary.distinct_ids != summary.selected_rows:
            dup_count, example = duplicate_ids(rows, params.id_field)
            raise_on_duplicates(dup_count, example, params.id_field, "the selected rows")
        if params.check_unique_ids:
            # The un-observed input: its id column alone, not the observed plan with every score.
            dup_count, example = duplicate_ids(df.select(params.id_field), params.id_field)
            raise_on_duplicates(dup_count, example, params.id_field, "the input")
        facts.update(
            input_rows=input_rows,
            unique_ids="checked"
            if params.check_unique_ids
            else "selected rows only (CHECK_UNIQUE_IDS=false)",
        )
    warnings.extend(summary.warnings)

    with phase("write") as facts, staged(rows_out, meta_out):
        stage_rows(rows, rows_out, params.output_format)
        metadata = build_metadata(
            params=params,
            job_type=job_type,
            input_rows=input_rows,
            summary=summary,
            figures=selected.figures,
            started=started,
            duration_seconds=time.monotonic() - clock,
            spark_version=spark.version,
            inputs={
                "evaluation_data": redact(paths.input),
                "labeled_data": redact(paths.labeled_data) if paths.labeled_data else None,
            },
            warnings=warnings,
        )
        stage_json(meta_out, metadata)
        rows_out.commit()
        meta_out.commit()
        facts.update(
            rows=summary.selected_rows,
            format=params.output_format.value,
            output=redact(paths.output),
        )
    rows.unpersist()
    log.info(
        "done     strategy=%s input_rows=%d selected_rows=%d warnings=%d seconds=%.2f",
        params.strategy.value,
        input_rows,
        summary.selected_rows,
        len(warnings),
        time.monotonic() - clock,
    )
    return metadata


def _feature_columns(df: DataFrame, params: SelectionParams, score_names: list[str]) -> list[str]:
    from selection.engine.blocks import resolve_feature_columns

    return resolve_feature_columns(
        df,
        params.feature_fields,
        id_col=params.id_field,
        label_col=params.label_field,
        score_cols=score_names,
    )


__all__ = ["AL_STRATEGIES", "JobPaths", "run"]
