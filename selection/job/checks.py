"""Input checks: the schema up front, the data in the same pass as the selection.

The data checks ride along with the selection's scan as two cheap aggregates on the input
(`DataFrame.observe`): the row count and the number of rows that may break a rule, from one
per-row flag built from the row sum, the row's largest and smallest score and the id. Only when
that count is not zero does a second scan count each rule exactly and find an example, so a
clean input pays for the flag, not for a dozen aggregates that each re-evaluate the scores.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import Column, DataFrame, Observation
from pyspark.sql import functions as F
from pyspark.sql.types import FractionalType

from selection.engine.observed import observe_once, observed_once, observed_twice
from selection.engine.values import all_of, any_of, column, is_text, not_a_number, total
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
_SUSPECT = "__selection_suspect"
ID_CHECK_PARTITION_ROWS = 2_000_000  # ids per task of the uniqueness check
# Up to this many selected rows the driver may hold one small value of each (an id, a class):
# one small job, or none, instead of a shuffle's three (about half a second of every run).
DRIVER_VALUES_MAX_ROWS = 100_000
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


def _not_finite(c: Column) -> Column:
    return c.isNull() | F.isnan(c) | (F.abs(c) == float("inf"))


@dataclass
class DataChecks:
    """The observed metrics of one run and the rules that turn them into errors.

    `separator`: of CSV/TSV input, to show a row whose number does not parse as its line.
    """

    id_field: str
    score_names: Sequence[str]
    raw_scores: Sequence[Column]
    tolerance: float
    normalize: bool
    corrupt_column: str | None = None
    feature_columns: Sequence[str] = ()
    separator: str = ","
    # A committee's own rule (`engine.committee.committee_violation`) and its columns' pattern.
    committee_rule: Column | None = None
    committee_columns: str = ""
    observation: Observation = field(default_factory=lambda: Observation("selection_checks"))

    def _sum(self) -> Column:
        return total(list(self.raw_scores))

    def _suspect(self) -> Column:
        """True for every row that breaks a rule (and, rarely, for one that does not).

        A null, NaN or infinite score makes the row sum null, NaN or infinite, and so does text
        that does not parse (its cast is null); Spark orders NaN above every number, so a NaN
        fails `<= 1` and `<= tolerance`. A sum that overflows flags a row that only the exact
        count, run when something was flagged, clears.
        """
        scores = list(self.raw_scores)
        row_sum = self._sum()
        sum_ok = row_sum > 0 if self.normalize else F.abs(row_sum - 1.0) <= self.tolerance
        ok = [
            F.col(self.id_field).isNotNull(),
            sum_ok,
            F.least(*scores) >= 0,
            F.greatest(*scores) <= 1,
        ]
        if self.corrupt_column:
            ok.append(F.col(self.corrupt_column).isNull())
        if self.feature_columns:
            features = total([F.col(c).cast("double") for c in self.feature_columns])
            ok.append(F.abs(features) < float("inf"))
        if self.committee_rule is not None:
            ok.append(~self.committee_rule)
        return ~F.coalesce(all_of(ok), F.lit(False))

    def _text_columns(self) -> list[str]:
        df = self._source
        names = dict.fromkeys([*self.score_names, *self.feature_columns])
        return [c for c in names if c in df.columns and is_text(df, c)]

    def _conditions(self) -> dict[str, Column]:
        """Each rule exactly, in the order `verify` reports them.

        Only the failure path evaluates these; array functions keep them small whatever C is.
        """
        ident = F.col(self.id_field)
        scores = F.array(*self.raw_scores)
        bad_score = F.exists(scores, _not_finite)
        conditions: dict[str, Column] = {}
        if self.corrupt_column:
            conditions["corrupt"] = F.col(self.corrupt_column).isNotNull()
        text = self._text_columns()
        if text:
            conditions["bad_number"] = F.exists(F.array(*[column(c) for c in text]), not_a_number)
        conditions["null_id"] = ident.isNull()
        conditions["bad_score"] = bad_score
        conditions["out_of_range"] = ~bad_score & F.exists(scores, lambda p: (p < 0) | (p > 1))
        row_sum = self._sum()
        if self.normalize:
            conditions["bad_sum"] = ~bad_score & (row_sum <= 0)
        else:
            conditions["bad_sum"] = ~bad_score & (F.abs(row_sum - 1.0) > self.tolerance)
        if self.feature_columns:
            conditions["bad_feature"] = any_of(
                [_not_finite(F.col(c).cast("double")) for c in self.feature_columns]
            )
        if self.committee_rule is not None:
            conditions["bad_committee"] = F.coalesce(self.committee_rule, F.lit(True))
        return conditions

    def _exact_metrics(self) -> list[Column]:
        shown_id = F.col(self.id_field).cast("string")
        metrics = []
        for name, condition in self._conditions().items():
            metrics.append(F.count(F.when(condition, 1)).alias(name))
            shown = shown_id
            if name == "corrupt" and self.corrupt_column:
                # The id of a line that does not parse is often null: show the line itself.
                shown = F.substring(F.col(self.corrupt_column), 1, _EXAMPLE_CHARS)
            metrics.append(F.min(F.when(condition, shown)).alias(name + "_example"))
            if name == "bad_number":
                # The example row itself, and which of its columns does not parse.
                first_bad = F.call_function(
                    "array_position",
                    F.transform(F.array(*[column(c) for c in self._text_columns()]), not_a_number),
                    F.lit(True),
                )
                line = F.array(*[column(c).cast("string") for c in self._line_columns()])
                row = F.struct(line.alias("v"), first_bad.alias("at"))
                metrics.append(F.min_by(row, F.when(condition, shown_id)).alias("bad_number_row"))
        return metrics

    def _line_columns(self) -> list[str]:
        return [c for c in self._source.columns if c != self.corrupt_column]

    def attach(self, df: DataFrame) -> DataFrame:
        """`df` with the checks riding along; read them with `verify` after an action."""
        self._source = df
        self._metrics = [
            F.count(F.lit(1)).alias("rows"),
            F.count(F.when(self._suspect(), 1)).alias("suspect"),
        ]
        # The flag is a column of the scan's own (code-generated) projection; evaluated inside
        # the observation it cost a third of a scan more per row (measured at 1M rows).
        flagged = df.withColumn(_SUSPECT, F.when(self._suspect(), 1))
        observed = observe_once(
            flagged,
            self.observation,
            F.count(F.lit(1)).alias("rows"),
            F.count(F.col(_SUSPECT)).alias("suspect"),
        )
        return observed.drop(_SUSPECT)

    def results(self) -> dict[str, Any]:
        observed = observed_once(self.observation)
        if observed is None:
            # Spark reported no metrics, or a partition was computed again after its executor
            # was lost and counted twice: the checks then cost a scan of their own.
            if observed_twice(self.observation):
                log.warning("tasks ran again after a failure: counting the input once more")
            row = self._source.agg(*self._metrics).first()
            assert row is not None
            observed = row.asDict()
        if observed["suspect"]:
            # Only now, with a row flagged, a scan of its own counts each rule and finds examples.
            exact = self._source.agg(*self._exact_metrics()).first()
            assert exact is not None
            observed.update(exact.asDict())
        return observed

    def verify(self) -> int:
        """Raise on the first violated rule; return the number of input rows."""
        m = self.results()

        def example(key: str) -> Any:
            return m.get(key + "_example")

        if m.get("corrupt"):
            shown = example("corrupt")
            hint = ""
            if shown is not None and shown.count('"') % 2:
                # Lines are read one by one (so that Spark can split files): a quoted field
                # holding a line break arrives as two broken lines.
                hint = (
                    " (a quote opened on that line is not closed on it: if quoted fields hold "
                    "line breaks, set CSV_MULTILINE=true, or use Parquet)"
                )
            raise SelectionInputError(
                f"{m['corrupt']} input line(s) do not parse (wrong number of fields or a value "
                f"of the wrong type), e.g. {shown!r}{hint}; fix or remove them"
            )
        if m.get("bad_number"):
            values, at = m["bad_number_row"]
            text = self._text_columns()
            column = text[at - 1] if at else text[0]
            value = values[self._line_columns().index(column)]
            raise SelectionInputError(
                f"{m['bad_number']} input line(s) do not parse (a value of the wrong type): "
                f"column '{column}' holds {value!r}, which is not a number, "
                f"e.g. id {example('bad_number')!r} in line {self._line(values)!r}; "
                "fix or remove them"
            )
        if m.get("null_id"):
            raise SelectionInputError(
                f"{m['null_id']} row(s) have an empty id in column '{self.id_field}'"
            )
        names = ", ".join(self.score_names)
        if m.get("bad_score"):
            raise SelectionInputError(
                f"{m['bad_score']} row(s) have a null, NaN or infinite score in {names}, "
                f"e.g. id {example('bad_score')!r}"
            )
        if m.get("out_of_range"):
            raise SelectionInputError(
                f"{m['out_of_range']} row(s) have a score outside [0, 1] in {names}, "
                f"e.g. id {example('out_of_range')!r}"
            )
        if m.get("bad_sum"):
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
        if m.get("bad_committee"):
            raise SelectionInputError(
                f"{m['bad_committee']} row(s) break the committee contract "
                f"({self.committee_columns}): a value null, NaN or outside [0, 1], a member's "
                f"probabilities summing to more than PROB_SUM_TOLERANCE={self.tolerance} off 1, "
                f"or the given probabilities off the members' mean by more than that, "
                f"e.g. id {example('bad_committee')!r}"
            )
        return int(m["rows"])

    def _line(self, values: Sequence[str | None]) -> str:
        """The row as a CSV/TSV writer puts it, cut to a readable length."""
        out = io.StringIO()
        csv.writer(out, delimiter=self.separator, lineterminator="").writerow(values)
        line = out.getvalue()
        return line if len(line) <= _EXAMPLE_CHARS else line[:_EXAMPLE_CHARS] + "..."


def duplicate_ids(df: DataFrame, id_field: str, rows: int | None = None) -> tuple[int, str | None]:
    """(number of ids that occur more than once, one such id); costs a shuffle of the id column.

    The ids are shuffled by value first, so Spark counts them after the shuffle only: left to
    itself it also counts each task's ids before it, a hash table as large as the task's input
    when ids are unique, as they should be (40% of the check's CPU at 5M ids). `rows`, when
    known, sizes the partitions to about ID_CHECK_PARTITION_ROWS ids each; else there are as
    many as the input has splits; up to DRIVER_VALUES_MAX_ROWS known rows are counted on the
    driver instead, by the same text form of the id.
    """
    # Floating ids group as values (-0.0 with 0.0), which their text would not.
    fractional = isinstance(df.schema[id_field].dataType, FractionalType)
    if rows is not None and rows <= DRIVER_VALUES_MAX_ROWS and not fractional:
        shown = df.select(F.col(id_field).cast("string")).collect()
        counts = Counter(r[0] for r in shown)
        repeated = [v for v, n in counts.items() if n > 1]
        named = [v for v in repeated if v is not None]
        return len(repeated), min(named) if named else None
    parallelism = df.sparkSession.sparkContext.defaultParallelism
    if rows is None:
        partitions = max(parallelism, df.rdd.getNumPartitions())
    else:
        partitions = max(parallelism, math.ceil(rows / ID_CHECK_PARTITION_ROWS))
    by_id = df.select(id_field).repartition(partitions, id_field)
    dups = by_id.groupBy(id_field).count().filter(F.col("count") > 1)
    row = dups.agg(F.count(F.lit(1)).alias("n"), F.min(F.col(id_field).cast("string")).alias("e"))
    first = row.collect()[0]
    return int(first["n"]), first["e"]


def raise_on_duplicates(count: int, example: str | None, id_field: str, where: str) -> None:
    if count:
        raise SelectionInputError(
            f"{count} id(s) occur more than once in {where} (column '{id_field}'), "
            f"e.g. {example!r}; ids must be unique"
        )
