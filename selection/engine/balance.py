"""Class-balanced batches: the first n rows of an order, split evenly over the predicted classes.

The batch is a round-robin over the classes, each giving its next row in the order: every
class gives its t best rows (t the largest level with sum_c min(n_c, t) <= n, so a class with
fewer than t rows gives all it has and its shortfall goes to the others), and the remaining
r < #classes slots go to the (t+1)-th rows of the classes that have one, in the order (score,
then ascending id). `selection_rank` follows the round-robin: every prefix of the batch is
itself balanced.

Cost: one aggregate of the per-class counts (C rows reach the driver), which fixes t; then one
scan ranks each row within its class and keeps ranks <= t+1. With t+1 <= Spark's
windowGroupLimitThreshold (1,000) each task keeps at most t+1 rows per class before the shuffle;
above, the pool is shuffled by class. The n picks are ranked as everywhere else (`rank_top_n`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from selection.engine.ranking import rank_top_n

_CLASS = "_sel_balance_class"
_IN_CLASS = "_sel_balance_rank"


@dataclass(frozen=True)
class ClassQuotas:
    """The water level of a balanced batch: every class gives min(n_c, level) rows, and
    `extra` classes with more than `level` rows give one more (the best of those by the order)."""

    pool: dict[int, int]
    level: int
    extra: int

    def to_json(self) -> dict[str, object]:
        return {
            "pool_per_class": {str(c): n for c, n in sorted(self.pool.items())},
            "rows_per_class_level": self.level,
            "classes_given_one_more": self.extra,
        }


def class_quotas(pool: Mapping[int, int], n: int) -> ClassQuotas:
    """The largest level t with sum_c min(n_c, t) <= n, and the n - that sum rows left over."""
    counts = dict(pool)
    if sum(counts.values()) <= n:
        return ClassQuotas(counts, max(counts.values(), default=0), 0)
    low, high = 0, max(counts.values())  # taken(low) <= n < taken(high)
    while high - low > 1:
        mid = (low + high) // 2
        if sum(min(c, mid) for c in counts.values()) <= n:
            low = mid
        else:
            high = mid
    extra = n - sum(min(c, low) for c in counts.values())
    return ClassQuotas(counts, low, extra)


def balanced_top_n(
    df: DataFrame, order: Sequence[Column], n: int, predicted: Column
) -> tuple[DataFrame, ClassQuotas]:
    """The first `n` rows of `df` in `order`, split evenly over the classes `predicted` names,
    ranked 1..n in round-robin order; runs one Spark job (the per-class counts) when called."""
    classed = df.withColumn(_CLASS, predicted)
    groups = classed.groupBy(_CLASS).agg(F.count(F.lit(1)).alias("n")).collect()
    quotas = class_quotas({int(g[_CLASS]): int(g["n"]) for g in groups}, n)
    in_class = F.row_number().over(Window.partitionBy(_CLASS).orderBy(*order))
    # A literal bound on row_number lets Spark keep only that many rows per class in each task.
    kept = classed.withColumn(_IN_CLASS, in_class).filter(
        F.col(_IN_CLASS) <= F.lit(quotas.level + 1)
    )
    ranked = rank_top_n(kept, [F.col(_IN_CLASS).asc(), *order], max(n, 1))
    return ranked.drop(_CLASS, _IN_CLASS), quotas
