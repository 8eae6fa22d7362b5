"""One selection run: read, check, select, verify, write; each phase logged on stderr."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from selection.engine.committee import check_same_classes, committee_violation
from selection.errors import SelectionConfigError, SelectionInputError
from selection.job.background import in_background
from selection.job.checks import DataChecks, check_schema, duplicate_ids, raise_on_duplicates
from selection.job.config import JobParams
from selection.job.io import read_predictions, redact
from selection.job.metadata import (
    build_metadata,
    most_rows,
    observable,
    observe_summary,
    summarize,
)
from selection.job.output import (
    OutputTarget,
    single_file,
    stage_json,
    stage_rows,
    staged,
    staged_ids,
)
from selection.job.session import job_sql_conf
from selection.job.trust import fit_trust
from selection.names import CONTAINER_INPUT_PATHS, CONTAINER_OUTPUT_PATHS
from selection.params import EmbeddingParams
from selection.strategies import select, with_features

log = logging.getLogger("selection")


@dataclass(frozen=True)
class JobPaths:
    input: str = CONTAINER_INPUT_PATHS["evaluation_data"]
    output: str = CONTAINER_OUTPUT_PATHS["selected_samples"]
    metadata_output: str = CONTAINER_OUTPUT_PATHS["selection_metadata"]
    labeled_data: str | None = None
    validation_data: str | None = None


@contextmanager
def phase(name: str) -> Iterator[dict[str, Any]]:
    """Log `name` with whatever the body records in the yielded dict, plus its seconds."""
    facts: dict[str, Any] = {}
    start = time.monotonic()
    yield facts
    detail = " ".join(f"{k}={v}" for k, v in facts.items())
    log.info("%-8s %s seconds=%.2f", name, detail, time.monotonic() - start)


def _read_labeled(
    spark: SparkSession, id_field: str, path: str | None, multiline: bool
) -> DataFrame | None:
    if not path:
        return None
    labeled = read_predictions(spark, path, id_field=id_field, multiline=multiline).df
    if id_field not in labeled.columns:
        raise SelectionInputError(f"labeled data {redact(path)!r} has no id column '{id_field}'")
    return labeled


def run(
    spark: SparkSession,
    job: JobParams,
    paths: JobPaths,
    *,
    job_type: str,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Run one selection and commit its rows and metadata; returns the metadata document."""
    with ExitStack() as background, job_sql_conf(spark):
        return _run(spark, job, paths, job_type, overwrite, background)


def _run(
    spark: SparkSession,
    job: JobParams,
    paths: JobPaths,
    job_type: str,
    overwrite: bool,
    background: ExitStack,
) -> dict[str, Any]:
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
    params = job.selection
    scores = params.scores
    id_field = params.id_col

    with phase("read") as facts:
        predictions = read_predictions(
            spark,
            paths.input,
            id_field=id_field,
            label_field=job.label_field,
            multiline=job.csv_multiline,
        )
        labeled = _read_labeled(spark, id_field, paths.labeled_data, job.csv_multiline)
        facts.update(
            format=predictions.format,
            files=len(predictions.files),
            bytes=sum(f.size for f in predictions.files),
            path=redact(paths.input),
        )
    warnings = list(predictions.warnings)

    with phase("check") as facts:
        df = predictions.df
        check_schema(df, id_field=id_field, label_field=job.label_field)
        score_names = scores.columns(df)
        # A committee's columns are checked by a rule of their own; when they stand in for the
        # absent probabilities, the score checks (on their mean) name them too.
        committee = scores.committee(df)
        check_names, committee_rule = score_names, None
        if committee is not None:
            derived = scores.from_committee(df) is not None
            if not derived:
                check_same_classes(committee, len(score_names))
            # Scores to be normalised are not probabilities yet: only the members are checked.
            given = None if derived or scores.normalize else scores.raw(df)
            committee_rule = committee_violation(committee, df, job.prob_sum_tolerance, given)
            check_names = [*([] if derived else score_names), *committee.names]
        features: tuple[str, ...] = ()
        if isinstance(params, EmbeddingParams):
            # Resolved once: the data checks and the strategy see the same columns.
            params = with_features(params, df, label_col=job.label_field)
            features = params.features
        checks = DataChecks(
            id_field=id_field,
            score_names=check_names,
            raw_scores=scores.raw(df),
            tolerance=job.prob_sum_tolerance,
            normalize=scores.normalize,
            corrupt_column=predictions.corrupt_column,
            feature_columns=features,
            separator=predictions.separator,
            committee_rule=committee_rule,
            committee_columns=f"{committee.prefix}<m>_class_<c>" if committee else "",
        )
        observed = checks.attach(df)
        id_check = None
        if job.check_unique_ids:
            # The un-observed input, not the observed plan with every score: its ids alone,
            # counted while the selection runs (verify waits for the answer).
            unique = partial(duplicate_ids, df, id_field)
            id_check = background.enter_context(in_background(spark, "input-id-check", unique))
        if predictions.corrupt_column:
            observed = observed.drop(predictions.corrupt_column)
        facts.update(
            schema="ok",
            id=id_field,
            classes=len(score_names),
            data_checks="ride along with the selection pass",
        )

    with phase("fit") as facts:
        trust = fit_trust(spark, job, params, df, observed, paths.validation_data)
        params, observed = trust.params, trust.pool
        facts.update(**trust.facts)
    warnings.extend(trust.warnings)

    classes = len(score_names)
    summary_job = trust.summary_job(job)
    # A selection that fits one output file is written by the pass that selects it, with its
    # summary observed on the way: no copy of it on disk, no pass of its own for the figures.
    bound = most_rows(params, classes)
    write_first = bound is not None and single_file(bound) and observable(bound, classes)
    rows: DataFrame | None = None
    with staged(rows_out, meta_out):
        with phase("select") as facts:
            embedding = isinstance(params, EmbeddingParams)
            log.info(
                "select   strategy=%s %s; scores and data checks computed in that scan",
                params.strategy.value,
                "several passes over the embedding" if embedding else "scanning the input once",
            )
            try:
                selected = select(
                    observed,
                    params,
                    labeled=labeled,
                    class_thresholds=trust.class_thresholds,
                    kept_per_class=trust.kept_per_class,
                )
                if write_first:
                    written, read_summary = observe_summary(selected.rows, summary_job, classes)
                    stage_rows(written, rows_out, job.output_format, bound, persisted=False)
                    # Tasks that ran twice make the observed figures unusable: select again.
                    summary = read_summary() or summarize(selected.rows, summary_job, classes)
            except SelectionInputError:
                # The embedding passes fail on the first bad feature they meet; a malformed
                # line or a bad score is the truer cause, so on this failure path only the
                # data checks get a scan of their own and report first.
                observed.agg(F.count(F.lit(1))).collect()
                checks.verify()
                raise
            if not write_first:
                # A selection can be most of the input (uncapped confidence_threshold): keep it
                # on disk for the figures and the write.
                rows = selected.rows.persist(StorageLevel.DISK_ONLY)
                summary = summarize(rows, summary_job, classes)
            input_rows = checks.verify()
            facts.update(input_rows=input_rows, selected_rows=summary.selected_rows)
            figures = selected.summary.metadata()
            if "passes" in figures:
                facts.update(passes=figures["passes"])

        with phase("verify") as facts:
            # Unique input ids make the selected ids unique; only without that check do the
            # selected rows get one of their own (those already written: their ids are read).
            if not job.check_unique_ids:
                ids = rows if rows is not None else staged_ids(rows_out, job.output_format)
                dup_count, example = duplicate_ids(ids, id_field, summary.selected_rows)
                raise_on_duplicates(dup_count, example, id_field, "the selected rows")
            else:
                assert id_check is not None
                dup_count, example = id_check.result()
                raise_on_duplicates(dup_count, example, id_field, "the input")
            facts.update(
                input_rows=input_rows,
                unique_ids="checked"
                if job.check_unique_ids
                else "selected rows only (CHECK_UNIQUE_IDS=false)",
            )
        warnings.extend(summary.warnings)

        with phase("write") as facts:
            if rows is not None:
                stage_rows(rows, rows_out, job.output_format, summary.selected_rows)
            metadata = build_metadata(
                job=job,
                job_type=job_type,
                input_rows=input_rows,
                summary=summary,
                figures=figures,
                extra=trust.figures(summary.per_class),
                started=started,
                duration_seconds=time.monotonic() - clock,
                spark_version=spark.version,
                inputs={
                    "evaluation_data": redact(paths.input),
                    "labeled_data": redact(paths.labeled_data) if paths.labeled_data else None,
                    "validation_data": trust.source,
                },
                warnings=warnings,
            )
            stage_json(meta_out, metadata)
            rows_out.commit()
            meta_out.commit()
            facts.update(
                rows=summary.selected_rows,
                format=job.output_format.value,
                output=redact(paths.output),
            )
    if rows is not None:
        rows.unpersist()
    trust.unpersist()
    log.info(
        "done     strategy=%s input_rows=%d selected_rows=%d warnings=%d seconds=%.2f",
        params.strategy.value,
        input_rows,
        summary.selected_rows,
        len(warnings),
        time.monotonic() - clock,
    )
    return metadata
