"""Global selection ranks without moving the whole selection through one task."""

from __future__ import annotations

import math
from collections.abc import Sequence

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from selection.names import SELECTION_RANK

# Up to this many rows are ranked in one task (TakeOrderedAndProject); beyond, a distributed sort.
ONE_TASK_RANK_LIMIT = 1_000_000
# The uncapped ranker's histogram resolution, the rows it puts in one sorted range (task), and
# below how many rows one task ranks them all: past that, sorting ranges on every core is
# faster than one task merging every partition's sorted rows (and holds less in one heap).
RANK_BUCKETS = 4096
HISTOGRAM_RANK_MIN = 50_000
RANGE_ROWS = 1_000_000
# Past this many rows a top n is cut from a histogram of its score rather than kept in every
# partition's heap and merged in one task: at n = 10^6 of 5M rows that task sorts all 5M
# (73 s of executor CPU), where the histogram costs a scan and a shuffle of about n rows.
HEAP_TOP_N_LIMIT = 200_000
SCORE_BUCKETS = 65_536
_KEY, _OFFSET = "_rank_key", "_rank_offset"
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


def rank_top_n_by_score(df: DataFrame, order: Sequence[Column], n: int, score: Column) -> DataFrame:
    """The first `n` rows of `df` in `order`, ranked 1..n, where `order` begins with `score`
    descending; runs a Spark job (the score's histogram) when called past HEAP_TOP_N_LIMIT.

    Beyond the limit the histogram says below which bucket the n-th row lies; only the rows up
    to that bucket are shuffled into ordered ranges and ranked, one range per task.
    """
    if n <= HEAP_TOP_N_LIMIT:
        return rank_top_n(df, order, n)
    bucket = descending_bucket(score)
    counts = {
        int(r["b"]): int(r["n"])
        for r in df.groupBy(bucket.alias("b")).agg(F.count(F.lit(1)).alias("n")).collect()
    }
    kept: dict[int, int] = {}
    running = 0
    for b in sorted(counts):
        if running >= n:
            break
        kept[b] = counts[b]
        running += counts[b]
    if running <= HISTOGRAM_RANK_MIN:
        # Few rows reach the n-th: one task ranks them, its heap no larger than they are.
        return rank_top_n(df, order, max(min(n, running), 1))
    cut = df.filter(bucket <= max(kept))
    return _rank_by_histogram(cut, order, bucket, kept).filter(F.col(SELECTION_RANK) <= n)


def descending_bucket(score: Column) -> Column:
    """An integer in [0, SCORE_BUCKETS) that never decreases as `score` decreases, as Spark
    orders it descending (NaN and +inf first, -inf then null last): a finite s through
    s / (1 + |s|)."""
    squashed = score / (F.lit(1.0) + F.abs(score))
    raw = F.floor((F.lit(1.0) - squashed) * F.lit(SCORE_BUCKETS / 2)).cast("int")
    clamped = F.greatest(F.lit(0), F.least(F.lit(SCORE_BUCKETS - 1), raw))
    return (
        F.when(score.isNull() | (score == F.lit(-math.inf)), F.lit(SCORE_BUCKETS - 1))
        .when(F.isnan(score) | (score == F.lit(math.inf)), F.lit(0))
        .otherwise(clamped)
    )


def rank_all(df: DataFrame, order: Sequence[Column], bucket: Column | None = None) -> DataFrame:
    """Every row of `df` ranked 1..m in `order`; runs Spark jobs when called.

    `df` is persisted and counted first: that is the one scan of its input, so metrics observed
    upstream are computed once. Few rows are then ranked in one task. Many rows are shuffled
    once into ranges of the order, each range sorted in its own task: with `bucket` (an integer
    in [0, RANK_BUCKETS) that never decreases along `order`) the ranges come from a histogram
    computed in that first scan; without it, from a range sort. Persisted data stays cached until
    the caller unpersists it.
    """
    # Straight to disk: building a large cached partition in the heap is what runs a small
    # driver (1 GB in local mode) out of memory, and the rows are read back once.
    df = df.persist(StorageLevel.DISK_ONLY)
    if bucket is None:
        total = df.count()
        if total <= ONE_TASK_RANK_LIMIT:
            return rank_top_n(df, order, max(total, 1))
        return _rank_by_sort(df, order)
    counts = {
        int(r["b"]): int(r["n"])
        for r in df.groupBy(bucket.alias("b")).agg(F.count(F.lit(1)).alias("n")).collect()
    }
    total = sum(counts.values())
    if total <= HISTOGRAM_RANK_MIN:
        return rank_top_n(df, order, max(total, 1))
    return _rank_by_histogram(df, order, bucket, counts)


def _rank_by_histogram(
    df: DataFrame, order: Sequence[Column], bucket: Column, counts: dict[int, int]
) -> DataFrame:
    """Ranks from contiguous bucket ranges of about RANGE_ROWS rows, one shuffle partition each.

    Range r goes to shuffle partition r (see `_partition_keys`), so the partitions, and the files
    written from them, follow the order; a row's rank is the rows of the ranges before its own
    plus its place inside its range.
    """
    total = sum(counts.values())
    ranges = max(df.sparkSession.sparkContext.defaultParallelism, math.ceil(total / RANGE_ROWS))
    firsts, offsets = _cut(counts, ranges)
    range_id = _search(bucket, firsts)
    keys = _partition_keys(df.sparkSession, len(firsts))
    key = F.element_at(F.array(*[F.lit(k).cast("long") for k in keys]), range_id + 1)
    offset = F.element_at(F.array(*[F.lit(o).cast("long") for o in offsets]), range_id + 1)
    keyed = df.withColumn(_KEY, key).withColumn(_OFFSET, offset)
    parted = keyed.repartition(len(firsts), F.col(_KEY))
    within = F.row_number().over(Window.partitionBy(_KEY).orderBy(*order))
    ranked = parted.withColumn(SELECTION_RANK, (F.col(_OFFSET) + within).cast("long"))
    return ranked.drop(_KEY, _OFFSET)


def _cut(counts: dict[int, int], ranges: int) -> tuple[list[int], list[int]]:
    """(first bucket of each range, rows before each range): ranges of about total/ranges rows."""
    total = sum(counts.values())
    target = max(1, math.ceil(total / ranges))
    firsts, offsets, running, filled = [0], [0], 0, 0
    for b in sorted(counts):
        if filled >= target:
            firsts.append(b)
            offsets.append(running)
            filled = 0
        running += counts[b]
        filled += counts[b]
    return firsts, offsets


def _search(value: Column, firsts: Sequence[int]) -> Column:
    """Index of the last entry of the sorted `firsts` that is <= value: a binary search, so the
    expression is log2(len(firsts)) deep however many ranges there are."""

    def between(lo: int, hi: int) -> Column:
        if lo == hi:
            return F.lit(lo)
        mid = (lo + hi + 1) // 2
        return F.when(value >= firsts[mid], between(mid, hi)).otherwise(between(lo, mid - 1))

    return between(0, len(firsts) - 1)


def _partition_keys(spark: SparkSession, n: int) -> list[int]:
    """For each r < n a long whose row `repartition(n, key)` sends to partition r.

    Hash partitioning sends a row to pmod(hash(key), n), with the same Murmur3 hash as
    `F.hash`; asking Spark for it keeps this exact for the running Spark version.
    """
    size = 64 * n
    while True:
        found = (
            spark.range(size)
            .groupBy(F.pmod(F.hash(F.col("id")), F.lit(n)).alias("p"))
            .agg(F.min("id").alias("k"))
            .collect()
        )
        if len(found) == n:
            by_partition = {int(r["p"]): int(r["k"]) for r in found}
            return [by_partition[p] for p in range(n)]
        size *= 4


def _rank_by_sort(df: DataFrame, order: Sequence[Column]) -> DataFrame:
    """Range-sort `df`: partition i's rows come before partition i+1's, so a row's rank is its
    index inside its partition plus the sizes of the partitions before it."""
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
