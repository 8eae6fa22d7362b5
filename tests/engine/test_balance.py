"""Class-balanced batches: the water level on the driver, the round-robin ranking in Spark."""

from __future__ import annotations

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from selection.engine.balance import balanced_top_n, class_quotas
from tests.references import round_robin


@pytest.mark.parametrize(
    ("pool", "n", "level", "extra"),
    [
        ({0: 10, 1: 10, 2: 10}, 9, 3, 0),
        ({0: 10, 1: 10, 2: 10}, 10, 3, 1),
        ({0: 1, 1: 10, 2: 10}, 10, 4, 1),  # class 0's shortfall goes to the others
        ({0: 0, 1: 2, 2: 50}, 20, 18, 0),
        ({0: 3, 1: 2}, 10, 3, 0),  # the pool is smaller than the batch: everything
        ({}, 5, 0, 0),
    ],
)
def test_water_level(pool: dict[int, int], n: int, level: int, extra: int) -> None:
    quotas = class_quotas(pool, n)
    assert (quotas.level, quotas.extra) == (level, extra)
    assert sum(min(c, quotas.level) for c in pool.values()) + quotas.extra == min(
        n, sum(pool.values())
    )


def test_round_robin_with_a_short_class_and_ties(spark: SparkSession) -> None:
    # (id, class, score): class 1 has two rows, ties on score are broken by id.
    rows = [
        (1, 0, 0.9), (2, 0, 0.8), (3, 0, 0.8), (4, 0, 0.1), (5, 0, 0.05), (6, 0, 0.7),
        (7, 1, 0.3), (8, 1, 0.99),
        (9, 2, 0.5), (10, 2, 0.5), (11, 2, 0.6), (12, 2, 0.2),
    ]  # fmt: skip
    df = spark.createDataFrame(rows, "id long, c int, s double").repartition(3)
    order = [F.col("s").desc(), F.col("id").asc()]
    for n in range(1, 14):
        ranked, _ = balanced_top_n(df, order, n, F.col("c"))
        got = [(r["id"], r["selection_rank"]) for r in ranked.collect()]
        expected = round_robin(
            rows, n, klass=lambda r: r[1], key=lambda r: (-r[2], r[0]), ident=lambda r: r[0]
        )
        assert got == [(i, k) for k, i in enumerate(expected, start=1)], n
        assert ranked.columns == ["id", "c", "s", "selection_rank"]
