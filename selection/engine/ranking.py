"""Global selection ranks without moving the whole selection through one task."""

from __future__ import annotations

from collections.abc import Sequence

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from selection.names import SELECTION_RANK

# Up to this many rows are ranked in one task (TakeOrderedAndProject); beyond, a distributed sort.
ONE_TASK_RANK_LIMIT = 1_000_000
_ROW_BITS = 33  # monotonically_increasing_id keeps the row index in its lower 33 bits


def rank_top_n(df: DataFrame, order: Sequence[Column], n: int) -> DataFrame:
    """The first `n` rows of `df` in `order`, ranked 1..n.

    `orderBy(...).limit(n)` plans as TakeOrderedAndProject: each partition keeps its own top n
    and only those meet on one task, so the input is never globally sorted.
    """
    if n > ONE_TASK_RANK_LIMIT:
        # TakeOrderedAndProject reserves room for n rows in one task; past the limit that is a
        # JVM out-of-memory, so rank everything by the distributed sort and cut at n.
        return rank_all(df, order).filter(F.col(SELECTION_RANK) <= n)
    top = df.orderBy(*order).limit(n)
    # The n rows already sit in one partition; a constant key says so without Spark's warning
    # about un-partitioned windows.
    rank = F.row_number().over(Window.partitionBy(F.lit(0)).orderBy(*order)).cast("long")
    return top.withColumn(SELECTION_RANK, rank)


def rank_all(df: DataFrame, order: Sequence[Column]) -> DataFrame:
    """Every row of `df` ranked 1..m in `order`; runs Spark jobs when called.

    `df` is persisted and counted first: that is the one scan of its input, so metrics observed
    upstream are computed once (a range sort would otherwise also run them in its sampling job).
    Few rows are then ranked in one task. Many rows are range-sorted: partition i's rows come
    before partition i+1's, so a row's rank is its index inside its partition plus the sizes of
    the partitions before it. Persisted data stays cached until the caller unpersists it.
    """
    # Straight to disk: building a large cached partition in the heap is what runs a small
    # driver (1 GB in local mode) out of memory, and the rows are only read back twice.
    df = df.persist(StorageLevel.DISK_ONLY)
    total = df.count()
    if total <= ONE_TASK_RANK_LIMIT:
        return rank_top_n(df, order, max(total, 1))
    sorted_rows = df.orderBy(*order).withColumn("_mid", F.monotonically_increasing_id())
    sorted_rows = sorted_rows.persist(StorageLevel.DISK_ONLY)
    part = F.shiftright(F.col("_mid"), _ROW_BITS)
    sizes = {
        int(r["p"]): int(r["n"])
        for r in sorted_rows.groupBy(part.alias("p")).agg(F.count(F.lit(1)).alias("n")).collect()
    }
    offsets: list[int] = []
    running = 0
    for p in range(max(sizes, default=-1) + 1):
        offsets.append(running)
        running += sizes.get(p, 0)
    index_in_part = F.col("_mid").bitwiseAND(F.lit((1 << _ROW_BITS) - 1))
    if offsets:
        offset = F.element_at(F.array(*[F.lit(o) for o in offsets]), (part + 1).cast("int"))
    else:
        offset = F.lit(0)
    ranked = sorted_rows.withColumn(SELECTION_RANK, (offset + index_in_part + 1).cast("long"))
    return ranked.drop("_mid")
