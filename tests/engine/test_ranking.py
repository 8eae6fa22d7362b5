import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from selection.engine import ranking
from selection.engine.ranking import rank_all, rank_top_n


def test_rank_top_n_ranks_the_first_n(spark: SparkSession) -> None:
    df = spark.range(100).withColumn("score", (F.col("id") * 7) % 10)
    order = [F.col("score").desc(), F.col("id").asc()]
    rows = rank_top_n(df, order, 5).collect()
    assert [(r["id"], r["selection_rank"]) for r in rows] == [
        (7, 1),
        (17, 2),
        (27, 3),
        (37, 4),
        (47, 5),
    ]


@pytest.mark.parametrize("limit", [1_000_000, 10])
def test_rank_all_in_one_task_or_by_a_distributed_sort(
    spark: SparkSession, monkeypatch: pytest.MonkeyPatch, limit: int
) -> None:
    monkeypatch.setattr(ranking, "ONE_TASK_RANK_LIMIT", limit)
    df = spark.range(0, 500, numPartitions=5).withColumn("score", (F.col("id") * 37) % 101)
    order = [F.col("score").desc(), F.col("id").asc()]
    ranked = rank_all(df, order)
    got = [(r["id"], r["selection_rank"]) for r in ranked.orderBy("selection_rank").collect()]
    expected_ids = [r["id"] for r in df.orderBy(*order).collect()]
    assert [i for i, _ in got] == expected_ids
    assert [rank for _, rank in got] == list(range(1, 501))
    if limit == 10:
        assert ranked.rdd.getNumPartitions() > 1


def test_rank_all_of_nothing_is_empty(spark: SparkSession) -> None:
    df = spark.range(0)
    assert rank_all(df, [F.col("id")]).count() == 0


def test_rank_top_n_beyond_one_task_uses_the_distributed_sort(
    spark: SparkSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ranking, "ONE_TASK_RANK_LIMIT", 10)
    df = spark.range(0, 100, numPartitions=4).withColumn("score", (F.col("id") * 13) % 17)
    order = [F.col("score").desc(), F.col("id").asc()]
    ranked = rank_top_n(df, order, 20)
    assert "TakeOrderedAndProject" not in ranked._jdf.queryExecution().executedPlan().toString()
    got = [r["id"] for r in ranked.orderBy("selection_rank").collect()]
    assert got == [r["id"] for r in df.orderBy(*order).limit(20).collect()]


@pytest.mark.parametrize("range_rows", [1_000_000, 7])
def test_rank_all_by_histogram_ranges(
    spark: SparkSession, monkeypatch: pytest.MonkeyPatch, range_rows: int
) -> None:
    """Bucketed ranking: exact ranks with ties across and inside buckets; ranges in order."""
    monkeypatch.setattr(ranking, "HISTOGRAM_RANK_MIN", 10)
    monkeypatch.setattr(ranking, "RANGE_ROWS", range_rows)
    df = spark.range(0, 300, numPartitions=3).withColumn("score", ((F.col("id") * 37) % 11) / 10)
    order = [F.col("score").desc(), F.col("id").asc()]
    bucket = F.floor((F.lit(1.0) - F.col("score")) * 20).cast("int")
    ranked = rank_all(df, order, bucket)
    got = [(r["id"], r["selection_rank"]) for r in ranked.orderBy("selection_rank").collect()]
    assert [i for i, _ in got] == [r["id"] for r in df.orderBy(*order).collect()]
    assert [rank for _, rank in got] == list(range(1, 301))
    # Partition r holds the r-th range: read in partition order, the ranks already ascend.
    in_partition_order = [r["selection_rank"] for r in ranked.collect()]
    assert in_partition_order == list(range(1, 301))
    if range_rows == 7:
        assert ranked.rdd.getNumPartitions() > 10


def test_partition_keys_land_where_asked(spark: SparkSession) -> None:
    keys = ranking._partition_keys(spark, 13)
    df = spark.createDataFrame([(k,) for k in keys], "k long").repartition(13, "k")
    placed = df.rdd.mapPartitionsWithIndex(lambda i, rows: [(i, r["k"]) for r in rows]).collect()
    assert sorted(placed) == list(enumerate(keys))


@pytest.mark.parametrize(("n", "buckets"), [(1, 65_536), (37, 8), (250, 65_536), (400, 8)])
def test_a_top_n_cut_from_the_score_histogram_is_the_top_n(
    spark: SparkSession, monkeypatch: pytest.MonkeyPatch, n: int, buckets: int
) -> None:
    """Ties inside and across buckets, negative, NaN, infinite and null scores, and n at or
    past the rows there are: the same rows and ranks as one task's heap."""
    monkeypatch.setattr(ranking, "HEAP_TOP_N_LIMIT", 0)
    monkeypatch.setattr(ranking, "HISTOGRAM_RANK_MIN", 0)
    monkeypatch.setattr(ranking, "RANGE_ROWS", 50)
    monkeypatch.setattr(ranking, "SCORE_BUCKETS", buckets)
    odd = F.col("id") % 50
    score = (
        F.when(odd == 0, F.lit(float("nan")))
        .when(odd == 1, F.lit(None))
        .when(odd == 2, F.lit(float("inf")))
        .when(odd == 3, F.lit(float("-inf")))
        .otherwise(((F.col("id") * 37) % 23 - 5) / 7)
    )
    df = spark.range(0, 300, numPartitions=3).withColumn("score", score.cast("double"))
    order = [F.col("score").desc(), F.col("id").asc()]
    got = ranking.rank_top_n_by_score(df, order, n, F.col("score"))
    expected = rank_top_n(df, order, n)
    assert [(r["id"], r["selection_rank"]) for r in got.orderBy("selection_rank").collect()] == [
        (r["id"], r["selection_rank"]) for r in expected.orderBy("selection_rank").collect()
    ]
    assert got.count() == min(n, 300)


def test_a_top_n_past_the_heap_limit_of_few_rows_is_ranked_in_one_task(
    spark: SparkSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ranking, "HEAP_TOP_N_LIMIT", 0)
    df = spark.range(0, 120, numPartitions=3).withColumn("score", ((F.col("id") * 7) % 13) / 13)
    order = [F.col("score").desc(), F.col("id").asc()]
    for n in (40, 500):
        got = ranking.rank_top_n_by_score(df, order, n, F.col("score"))
        ranks = [(r["id"], r["selection_rank"]) for r in got.orderBy("selection_rank").collect()]
        expected = rank_top_n(df, order, n).orderBy("selection_rank").collect()
        assert ranks == [(r["id"], r["selection_rank"]) for r in expected]
        assert len(ranks) == min(n, 120)
