"""Input checks: the schema up front, the data in the same pass as the selection.

The data checks are aggregate expressions attached to the input with `DataFrame.observe`, so they
are computed while the selection scans the input instead of costing a scan of their own.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import reduce
from typing import Any

from pyspark.sql import Column, DataFrame, Observation
from pyspark.sql import functions as F

from selection.errors import SelectionInputError
from selection.names import (
    CONFIDENCE,
    DATA_SOURCE,
    PSEUDO_LABEL,
    SELECTION_RANK,
    UNCERTAINTY_SCORE,
)

log = logging.getLogger("selection")
RESERVED_COLUMNS = (PSEUDO_LABEL, CONFIDENCE, UNCERTAINTY_SCORE, DATA_SOURCE, SELECTION_RANK)
_EXAMPLE_CHARS = 120  # of a line that does not parse, shown in the error


def check_schema(df: DataFrame, *, id_field: str, label_field: str) -> None:
    columns = df.columns
    if id_field not in columns:
        raise SelectionInputError(
            f"id column '{id_field}' (ID_FIELD) is not in the input; columns are: "
            + ", ".join(c for c in columns if not c.startswith("_"))
        )
    if label_field and label_field not in columns:
        raise SelectionInputError(f"label column '{label_field}' (LABEL_FIELD) is not in the input")
    clashes = [c for c in RESERVED_COLUMNS if c in columns]
    if clashes:
        raise SelectionInputError(
            f"input already has column '{clashes[0]}', which the selection writes; "
            "rename or drop it before selecting"
        )


def _any(conditions: Sequence[Column]) -> Column:
    return reduce(lambda a, b: a | b, conditions)


def _not_finite(c: Column) -> Column:
    return c.isNull() | F.isnan(c) | (F.abs(c) == float("inf"))


@dataclass
class DataChecks:
    """The observed metrics of one run and the rules that turn them into errors."""

    id_field: str
    score_names: Sequence[str]
    raw_scores: Sequence[Column]
    tolerance: float
    normalize: bool
    corrupt_column: str | None = None
    feature_columns: Sequence[str] = ()
    observation: Observation = field(default_factory=lambda: Observation("selection_checks"))

    def _conditions(self) -> dict[str, Column]:
        ident = F.col(self.id_field)
        bad_score = _any([_not_finite(p) for p in self.raw_scores])
        conditions: dict[str, Column] = {
            "null_id": ident.isNull(),
            "bad_score": bad_score,
            "out_of_range": ~bad_score & _any([(p < 0) | (p > 1) for p in self.raw_scores]),
        }
        total = reduce(lambda a, b: a + b, self.raw_scores)
        if self.normalize:
            conditions["bad_sum"] = ~bad_score & (total <= 0)
        else:
            conditions["bad_sum"] = ~bad_score & (F.abs(total - 1.0) > self.tolerance)
        if self.corrupt_column:
            conditions["corrupt"] = F.col(self.corrupt_column).isNotNull()
        if self.feature_columns:
            conditions["bad_feature"] = _any(
                [_not_finite(F.col(c).cast("double")) for c in self.feature_columns]
            )
        return conditions

    def attach(self, df: DataFrame) -> DataFrame:
        """`df` with the checks riding along; read them with `verify` after an action."""
        metrics = [F.count(F.lit(1)).alias("rows")]
        for name, condition in self._conditions().items():
            metrics.append(F.count(F.when(condition, 1)).alias(name))
            shown = F.col(self.id_field).cast("string")
            if name == "corrupt" and self.corrupt_column:
                # The id of a line that does not parse is often null: show the line itself.
                shown = F.substring(F.col(self.corrupt_column), 1, _EXAMPLE_CHARS)
            metrics.append(F.min(F.when(condition, shown)).alias(name + "_example"))
        self._source, self._metrics = df, metrics
        self._jobs_before = _job_ids(df)
        return df.observe(self.observation, *metrics)

    def results(self) -> dict[str, Any]:
        observed = dict(self.observation.get)
        if not observed or _tasks_reran(self._source, self._jobs_before):
            # No metrics: Spark reports none when the observed plan was cached and the filter
            # after it kept no row. Tasks run again (a lost executor, a resubmitted stage): the
            # rows they had observed count twice. Either way the checks cost a scan of their own.
            if observed:
                log.warning("tasks ran again after a failure: counting the input once more")
            row = self._source.agg(*self._metrics).first()
            assert row is not None
            observed = row.asDict()
        return observed

    def verify(self) -> int:
        """Raise on the first violated rule; return the number of input rows."""
        m = self.results()
        example = lambda key: m.get(key + "_example")  # noqa: E731
        if m.get("corrupt"):
            raise SelectionInputError(
                f"{m['corrupt']} input line(s) do not parse (wrong number of fields or a value "
                f"of the wrong type), e.g. {example('corrupt')!r}; fix or remove them"
            )
        if m["null_id"]:
            raise SelectionInputError(
                f"{m['null_id']} row(s) have an empty id in column '{self.id_field}'"
            )
        names = ", ".join(self.score_names)
        if m["bad_score"]:
            raise SelectionInputError(
                f"{m['bad_score']} row(s) have a null, NaN or infinite score in {names}, "
                f"e.g. id {example('bad_score')!r}"
            )
        if m["out_of_range"]:
            raise SelectionInputError(
                f"{m['out_of_range']} row(s) have a score outside [0, 1] in {names}, "
                f"e.g. id {example('out_of_range')!r}"
            )
        if m["bad_sum"]:
            if self.normalize:
                raise SelectionInputError(
                    f"{m['bad_sum']} row(s) have scores summing to 0, which cannot be "
                    f"normalised, e.g. id {example('bad_sum')!r}"
                )
            raise SelectionInputError(
                f"{m['bad_sum']} row(s) have probabilities whose sum is off 1 by more than "
                f"PROB_SUM_TOLERANCE={self.tolerance}, e.g. id {example('bad_sum')!r}; "
                "set NORMALIZE_SCORES=true to divide each row by its sum"
            )
        if m.get("bad_feature"):
            raise SelectionInputError(
                f"{m['bad_feature']} row(s) have a null, NaN or non-numeric value in the feature "
                f"columns {', '.join(self.feature_columns)}, e.g. id {example('bad_feature')!r}"
            )
        return int(m["rows"])


def _job_ids(df: DataFrame) -> set[int]:
    sc = df.sparkSession.sparkContext
    return set(sc.statusTracker().getJobIdsForGroup(sc.getLocalProperty("spark.jobGroup.id")))


def _tasks_reran(df: DataFrame, jobs_before: set[int]) -> bool:
    """Whether a Spark job since `jobs_before` resubmitted a stage or lost a task.

    Observed metrics are accumulators: a task that succeeded, lost its output with its executor
    and ran again adds its rows a second time. Spark marks that as a failed (resubmitted) task or
    a new stage attempt.
    """
    tracker = df.sparkSession.sparkContext.statusTracker()
    for job in _job_ids(df) - jobs_before:
        info = tracker.getJobInfo(job)
        for stage_id in info.stageIds if info is not None else ():
            stage = tracker.getStageInfo(stage_id)
            if stage is not None and (stage.currentAttemptId > 0 or stage.numFailedTasks > 0):
                return True
    return False


def duplicate_ids(df: DataFrame, id_field: str) -> tuple[int, str | None]:
    """(number of ids that occur more than once, one such id); costs a shuffle of the id column."""
    dups = df.groupBy(id_field).count().filter(F.col("count") > 1)
    row = dups.agg(F.count(F.lit(1)).alias("n"), F.min(F.col(id_field).cast("string")).alias("e"))
    first = row.collect()[0]
    return int(first["n"]), first["e"]


def raise_on_duplicates(count: int, example: str | None, id_field: str, where: str) -> None:
    if count:
        raise SelectionInputError(
            f"{count} id(s) occur more than once in {where} (column '{id_field}'), "
            f"e.g. {example!r}; ids must be unique"
        )
