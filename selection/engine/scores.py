"""Column expressions over the class probabilities: confidence, pseudo-label and uncertainty.

Everything here is native Spark SQL (no Python UDFs), so it runs in the JVM at scan speed, and
every expression stays O(C) in size and O(log C) in depth for C classes: Spark's analyzer and
code generator recurse over expression trees, and a tree that grows with C * C (every class
compared with the row maximum, every class divided by the row sum) or a left fold a thousand
levels deep stops a job with 1,000 classes before it reads a row.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import overload

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType

from selection.engine.committee import Committee, committee_score, find_committee
from selection.engine.values import is_numeric, total
from selection.errors import SelectionInputError, SelectionParamError
from selection.names import (
    COMMITTEE_MODES,
    DEFAULT_MEMBER_PREFIX,
    DEFAULT_SCORE_PREFIX,
    UncertaintyMode,
)

TREE_TERMS = 32  # classes up to which a sum of per-class terms is one expression tree


@dataclass(frozen=True)
class ScoreSpec:
    """Where a DataFrame keeps its class probabilities.

    `prefix`: columns `<prefix><i>` for i = 0..C-1. `single`: one column p of a binary model,
    read as classes [1 - p, p]. `normalize`: divide each row by its sum (LLM-extracted scores).
    `temperature`: T of temperature scaling, p_c^(1/T) / sum_j p_j^(1/T) (1: as they are); the
    data checks still read the scores as written (`raw`).
    `members`: a committee's columns `<members><m>_class_<c>` (`selection.engine.committee`);
    when the input has them and no `<prefix><i>` columns, p is the members' mean.
    """

    prefix: str = DEFAULT_SCORE_PREFIX
    single: str = ""
    normalize: bool = False
    members: str = DEFAULT_MEMBER_PREFIX
    temperature: float = 1.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise SelectionParamError(
                "ScoreSpec(temperature=...)", "must be a positive number", self.temperature
            )

    def committee(self, df: DataFrame) -> Committee | None:
        """The committee `df` holds under `members`, or None."""
        return None if self.single else find_committee(df, self.members)

    def from_committee(self, df: DataFrame) -> Committee | None:
        """The committee whose mean stands for p, when `df` has no `<prefix><i>` columns."""
        if self.single or any(_prefixed(self.prefix).fullmatch(name) for name in df.columns):
            return None
        return self.committee(df)

    def columns(self, df: DataFrame) -> list[str]:
        """The score columns of `df`, in class order; raises if they break the contract.

        Without them but with a committee, the names its mean stands for (not in `df`).
        """
        committee = self.from_committee(df)
        if committee is not None:
            return [f"{self.prefix}{c}" for c in range(committee.classes)]
        if self.single:
            if self.single not in df.columns:
                raise SelectionInputError(
                    f"score column '{self.single}' (ScoreSpec(single=...)) is not in the input; "
                    f"columns are: {', '.join(df.columns)}"
                )
            found = {1: self.single}
        else:
            pattern = _prefixed(self.prefix)
            found = {}
            for name in df.columns:
                match = pattern.fullmatch(name)
                if match:
                    found[int(match.group(1))] = name
            if len(found) < 2:
                raise SelectionInputError(
                    f"need at least two probability columns named '{self.prefix}<i>' "
                    f"(found {len(found)}); set ScoreSpec(prefix=...), or ScoreSpec(single=...) "
                    "for a single binary score"
                )
            missing = sorted(set(range(max(found) + 1)) - set(found))
            if missing:
                raise SelectionInputError(
                    f"probability columns must be numbered 0..{max(found)} without gaps: "
                    f"'{self.prefix}{missing[0]}' is missing"
                )
        fields = {f.name: f for f in df.schema.fields}
        for name in found.values():
            # CSV/TSV columns are text; the reader marks those whose sampled values are numbers.
            if not is_numeric(fields[name]):
                raise SelectionInputError(
                    f"score column '{name}' is not numeric "
                    f"(type {fields[name].dataType.simpleString()}); "
                    "probabilities must be numbers in [0, 1]"
                )
        return [found[i] for i in sorted(found)]

    def raw(self, df: DataFrame) -> list[Column]:
        """The score columns as doubles, before any normalisation."""
        committee = self.from_committee(df)
        if committee is not None:
            return committee.mean(df)
        names = self.columns(df)
        types = {f.name: f.dataType for f in df.schema.fields}
        # No cast where there is nothing to cast: with C in the thousands every call counts.
        doubles = [
            F.col(n) if isinstance(types[n], DoubleType) else F.col(n).cast("double") for n in names
        ]
        if self.single:
            return [F.lit(1.0) - doubles[0], doubles[0]]
        return doubles

    def probabilities(self, df: DataFrame) -> Probabilities:
        """p_0..p_{C-1} as double expressions, normalised by the row sum when asked, and
        tempered by `temperature` (normalised again: the row sum of the powers)."""
        raw = self.raw(df)
        if self.temperature != 1.0:
            # p_c^(1/T) / sum p^(1/T) is the same for raw scores and their normalised values.
            power = F.lit(1.0 / self.temperature)
            tempered = [F.pow(r, power) for r in raw]
            return Probabilities(tempered, total(tempered))
        return Probabilities(raw, total(raw) if self.normalize else None)


def _prefixed(prefix: str) -> re.Pattern[str]:
    return re.compile(re.escape(prefix) + r"(\d+)")


class Probabilities(Sequence[Column]):
    """p_0..p_{C-1} of a row: the raw scores and, when normalised, the row sum they divide by.

    Item i is raw_i / sum; the score functions below work on the raw scores and divide once, so
    the row sum (itself C columns) is not copied into every class's expression. They also share
    one array of the raw scores: every list of C columns costs C calls from Python to the JVM.
    """

    def __init__(self, raw: Sequence[Column], row_sum: Column | None = None) -> None:
        self.raw = list(raw)
        self.row_sum = row_sum
        self._values: Column | None = None

    @property
    def values(self) -> Column:
        """array(raw_0, .., raw_{C-1}), built once."""
        if self._values is None:
            self._values = F.array(*self.raw)
        return self._values

    @overload
    def __getitem__(self, index: int) -> Column: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Column]: ...

    def __getitem__(self, index: int | slice) -> Column | Sequence[Column]:
        if isinstance(index, slice):
            return [self[i] for i in range(len(self.raw))[index]]
        p = self.raw[index]
        return p if self.row_sum is None else p / self.row_sum

    def __len__(self) -> int:
        return len(self.raw)

    def __iter__(self) -> Iterator[Column]:
        return (self[i] for i in range(len(self.raw)))


def _as_probabilities(probs: Sequence[Column]) -> Probabilities:
    return probs if isinstance(probs, Probabilities) else Probabilities(probs)


def _scaled(value: Column, row_sum: Column | None) -> Column:
    return value if row_sum is None else value / row_sum


def row_sum(probs: Sequence[Column]) -> Column:
    """sum_c p_c as a balanced tree."""
    return total(list(probs))


def _flat(p: Probabilities) -> bool:
    """Whether the row's maxima are flat expressions over the columns rather than array calls.

    `greatest` and `coalesce` over a few columns are code-generated in place; the array
    functions first build an array per row, which cost 0.5 s of CPU more per 5M rows at C = 10
    (measured). Past TREE_TERMS classes one generated method would grow too large to compile.
    """
    return len(p) <= TREE_TERMS


def _top(p: Probabilities) -> Column:
    """max_c raw_c (nulls skipped; Spark orders NaN above every number in both forms)."""
    return F.greatest(*p.raw) if _flat(p) else F.array_max(p.values)


def confidence(probs: Sequence[Column]) -> Column:
    """max_c p_c."""
    p = _as_probabilities(probs)
    return _scaled(_top(p), p.row_sum)


def _argmax_position(values: Column) -> Column:
    """1-based position of the first maximum: one array lookup, whatever C is."""
    return F.call_function("array_position", values, F.array_max(values))


def pseudo_label(probs: Sequence[Column]) -> Column:
    """argmax_c p_c as int, the lowest index on a tie."""
    # Dividing by a positive row sum keeps the order, so the raw scores give the same argmax.
    p = _as_probabilities(probs)
    if _flat(p):
        top = _top(p)
        # coalesce takes its first non-null argument: the lowest class equal to the maximum.
        return F.coalesce(*[F.when(r == top, F.lit(c)) for c, r in enumerate(p.raw)])
    return (_argmax_position(p.values) - 1).cast("int")


def second_largest(probs: Sequence[Column]) -> Column:
    """p(2): the second largest probability (equal to p(1) when the top is tied).

    The largest of the classes other than the first argmax, as the larger of the maxima of the
    array before and after it: no sort, and a tied maximum is counted because it lies there.
    With few classes the same value without arrays: p(1) when two classes reach the maximum,
    else the largest score below it.
    """
    p = _as_probabilities(probs)
    if _flat(p):
        top = _top(p)
        tied = total([F.when(r == top, F.lit(1)).otherwise(F.lit(0)) for r in p.raw])
        below = F.greatest(*[F.when(r < top, r) for r in p.raw])
        return _scaled(F.when(tied > 1, top).otherwise(below), p.row_sum)
    first = _argmax_position(p.values)
    before = F.array_max(F.slice(p.values, F.lit(1), first - 1))
    after = F.array_max(F.slice(p.values, first + 1, F.lit(len(p))))
    return _scaled(F.greatest(before, after), p.row_sum)


def margin(probs: Sequence[Column]) -> Column:
    """1 - (p(1) - p(2)): 1 when the top two are tied, 0 when the model is certain."""
    return F.lit(1.0) - (confidence(probs) - second_largest(probs))


def _sum_over(p: Probabilities, term: Callable[[Column], Column]) -> Column:
    """sum_c term(raw_c): a balanced tree for few classes, one array aggregate for many.

    Spark generates one Java method for a whole expression tree, and the JVM does not compile
    methods past 8 KB of bytecode: beyond a few dozen classes the tree of `when`/`log` terms
    runs interpreted and the aggregate, interpreted too but a loop, is faster (measured 2x at
    C = 100 and 1000, while the tree is 2x faster at C = 10 and 32).
    """
    if len(p) <= TREE_TERMS:
        return total([term(r) for r in p.raw])
    return F.aggregate(p.values, F.lit(0.0), lambda acc, r: acc + term(r))


def entropy(probs: Sequence[Column]) -> Column:
    """-sum p ln p, with 0 ln 0 = 0."""
    p = _as_probabilities(probs)
    if p.row_sum is None:
        return _sum_over(p, lambda r: F.when(r > 0, -r * F.log(r)).otherwise(F.lit(0.0)))
    # With p = r / s: -sum p ln p = ln s - (sum r ln r) / s, so s appears twice, not 2C times.
    r_ln_r = _sum_over(p, lambda r: F.when(r > 0, r * F.log(r)).otherwise(F.lit(0.0)))
    return F.log(p.row_sum) - r_ln_r / p.row_sum


def least_confidence(probs: Sequence[Column]) -> Column:
    """1 - p(1)."""
    return F.lit(1.0) - confidence(probs)


_UNCERTAINTY = {
    UncertaintyMode.MARGIN: margin,
    UncertaintyMode.ENTROPY: entropy,
    UncertaintyMode.LEAST_CONFIDENCE: least_confidence,
}


def uncertainty(mode: UncertaintyMode | str, probs: Sequence[Column]) -> Column:
    """The uncertainty score of `mode`; higher means more worth a human label."""
    if UncertaintyMode(mode) in COMMITTEE_MODES:
        raise SelectionInputError(
            f"mode {UncertaintyMode(mode).value} scores a committee, not one probability vector; "
            "use uncertainty_of(df, mode, scores)"
        )
    return _UNCERTAINTY[UncertaintyMode(mode)](probs).cast("double")


def uncertainty_of(df: DataFrame, mode: UncertaintyMode | str, scores: ScoreSpec) -> Column:
    """The uncertainty score of `mode` for the rows of `df`: the committee modes read the
    members' columns, the others p (the members' mean when `df` has no `<prefix><i>` columns)."""
    mode = UncertaintyMode(mode)
    if mode not in COMMITTEE_MODES:
        return uncertainty(mode, scores.probabilities(df))
    committee = scores.committee(df)
    if committee is None:
        raise SelectionInputError(
            f"mode {mode.value} scores a committee, but the input has no member columns "
            f"'{scores.members}<m>_class_<c>' (ScoreSpec(members=...)); add them, or use "
            "margin, entropy or least_confidence"
        )
    return committee_score(mode, committee, df)
