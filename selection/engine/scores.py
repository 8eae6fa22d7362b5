"""Column expressions over the class probabilities: confidence, pseudo-label and uncertainty.

Everything here is native Spark SQL (no Python UDFs), so it runs in the JVM at scan speed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import NumericType

from selection.errors import SelectionInputError
from selection.names import DEFAULT_SCORE_PREFIX, UncertaintyMode


@dataclass(frozen=True)
class ScoreSpec:
    """Where a DataFrame keeps its class probabilities.

    `prefix`: columns `<prefix><i>` for i = 0..C-1. `single`: one column p of a binary model,
    read as classes [1 - p, p]. `normalize`: divide each row by its sum (LLM-extracted scores).
    """

    prefix: str = DEFAULT_SCORE_PREFIX
    single: str = ""
    normalize: bool = False

    def columns(self, df: DataFrame) -> list[str]:
        """The score columns of `df`, in class order; raises if they break the contract."""
        if self.single:
            if self.single not in df.columns:
                raise SelectionInputError(
                    f"score column '{self.single}' (SCORE_FIELD) is not in the input; "
                    f"columns are: {', '.join(df.columns)}"
                )
            found = {1: self.single}
        else:
            pattern = re.compile(re.escape(self.prefix) + r"(\d+)")
            found = {}
            for name in df.columns:
                match = pattern.fullmatch(name)
                if match:
                    found[int(match.group(1))] = name
            if len(found) < 2:
                raise SelectionInputError(
                    f"need at least two probability columns named '{self.prefix}<i>' "
                    f"(found {len(found)}); set SCORE_FIELD_PREFIX, or SCORE_FIELD for a single "
                    "binary score"
                )
            missing = sorted(set(range(max(found) + 1)) - set(found))
            if missing:
                raise SelectionInputError(
                    f"probability columns must be numbered 0..{max(found)} without gaps: "
                    f"'{self.prefix}{missing[0]}' is missing"
                )
        types = dict(df.dtypes)
        for name in found.values():
            if not isinstance(df.schema[name].dataType, NumericType):
                raise SelectionInputError(
                    f"score column '{name}' is not numeric (type {types[name]}); "
                    "probabilities must be numbers in [0, 1]"
                )
        return [found[i] for i in sorted(found)]

    def raw(self, df: DataFrame) -> list[Column]:
        """The score columns as doubles, before any normalisation."""
        names = self.columns(df)
        if self.single:
            p = F.col(names[0]).cast("double")
            return [F.lit(1.0) - p, p]
        return [F.col(n).cast("double") for n in names]

    def probabilities(self, df: DataFrame) -> list[Column]:
        """p_0..p_{C-1} as double expressions, normalised by the row sum when asked."""
        probs = self.raw(df)
        if not self.normalize:
            return probs
        total = row_sum(probs)
        return [p / total for p in probs]


def row_sum(probs: Sequence[Column]) -> Column:
    return reduce(lambda a, b: a + b, probs)


def confidence(probs: Sequence[Column]) -> Column:
    """max_c p_c."""
    return F.greatest(*probs)


def pseudo_label(probs: Sequence[Column]) -> Column:
    """argmax_c p_c as int, the lowest index on a tie."""
    top = confidence(probs)
    # coalesce picks the first class whose probability equals the maximum.
    return F.coalesce(*[F.when(p == top, F.lit(i)) for i, p in enumerate(probs)]).cast("int")


def second_largest(probs: Sequence[Column]) -> Column:
    """p(2): the second largest probability (equal to p(1) when the top is tied)."""
    return F.element_at(F.sort_array(F.array(*probs), asc=False), 2)


def margin(probs: Sequence[Column]) -> Column:
    """1 - (p(1) - p(2)): 1 when the top two are tied, 0 when the model is certain."""
    return F.lit(1.0) - (confidence(probs) - second_largest(probs))


def entropy(probs: Sequence[Column]) -> Column:
    """-sum p ln p, with 0 ln 0 = 0."""
    terms = [F.when(p > 0, -p * F.log(p)).otherwise(F.lit(0.0)) for p in probs]
    return row_sum(terms)


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
    return _UNCERTAINTY[UncertaintyMode(mode)](probs).cast("double")
