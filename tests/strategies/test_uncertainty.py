import math

import numpy as np
import pytest
from chispa import assert_approx_df_equality
from pyspark.sql import SparkSession
from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType

from selection import Uncertainty, select, uncertainty
from tests.references import close, entropy, margin, round_robin

INPUT = StructType(
    [
        StructField("id", LongType()),
        StructField("prob_class_0", DoubleType()),
        StructField("prob_class_1", DoubleType()),
        StructField("prob_class_2", DoubleType()),
    ]
)
ROWS = [
    (1, 0.40, 0.35, 0.25),  # margin 0.95, near-flat
    (2, 0.90, 0.05, 0.05),
    (3, 0.50, 0.50, 0.00),  # margin 1.0
    (4, 0.34, 0.33, 0.33),  # highest entropy, margin 0.99
    (5, 1.00, 0.00, 0.00),
    (6, 0.60, 0.40, 0.00),  # least_confidence 0.4, ties with nothing
]


def _entropy(*p: float) -> float:
    return -sum(x * math.log(x) for x in p if x > 0)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("margin", [(3, 1.0), (4, 0.99), (1, 0.95)]),
        ("least_confidence", [(4, 0.66), (1, 0.60), (3, 0.50)]),
        (
            "entropy",
            [
                (4, _entropy(0.34, 0.33, 0.33)),
                (1, _entropy(0.4, 0.35, 0.25)),
                (3, _entropy(0.5, 0.5)),
            ],
        ),
    ],
)
def test_top_batch_by_mode(
    spark: SparkSession, mode: str, expected: list[tuple[int, float]]
) -> None:
    df = spark.createDataFrame(ROWS, INPUT).repartition(2)
    actual = df.transform(uncertainty(batch_size=3, mode=mode))
    by_id = {r[0]: r for r in ROWS}
    schema = StructType(
        [
            *INPUT.fields,
            StructField("uncertainty_score", DoubleType()),
            StructField("data_source", StringType(), nullable=False),
            StructField("selection_rank", LongType()),
        ]
    )
    expected_df = spark.createDataFrame(
        [
            (*by_id[i], score, "active_learning", rank + 1)
            for rank, (i, score) in enumerate(expected)
        ],
        schema,
    )
    assert_approx_df_equality(actual, expected_df, 1e-12, ignore_nullable=True)


def test_ties_break_by_ascending_id(spark: SparkSession) -> None:
    df = spark.createDataFrame([(i, 0.5, 0.5, 0.0) for i in (9, 3, 7, 1)], INPUT)
    picked = df.transform(uncertainty(batch_size=3))
    assert [(r["id"], r["selection_rank"]) for r in picked.collect()] == [(1, 1), (3, 2), (7, 3)]


def test_batch_larger_than_the_input_returns_every_row(spark: SparkSession) -> None:
    df = spark.createDataFrame(ROWS, INPUT)
    assert df.transform(uncertainty(batch_size=1000)).count() == len(ROWS)


def test_top_n_is_planned_without_a_global_sort(spark: SparkSession) -> None:
    df = spark.createDataFrame(ROWS, INPUT)
    plan = df.transform(uncertainty(batch_size=3))._jdf.queryExecution().executedPlan().toString()
    assert "TakeOrderedAndProject" in plan
    assert "Exchange rangepartitioning" not in plan


BALANCE_ROWS = [
    (1, 0.50, 0.30, 0.20),
    (2, 0.70, 0.20, 0.10),
    (3, 0.45, 0.44, 0.11),
    (4, 0.90, 0.05, 0.05),
    (5, 0.35, 0.60, 0.05),
    (6, 0.20, 0.41, 0.39),
    (7, 0.10, 0.80, 0.10),
    (8, 0.30, 0.30, 0.40),
    (9, 0.05, 0.05, 0.90),
    (10, 0.34, 0.33, 0.33),
    (11, 0.45, 0.11, 0.44),  # same margin as id 3: the lower id goes first
]


@pytest.mark.parametrize("mode", ["margin", "entropy"])
@pytest.mark.parametrize("batch", [1, 4, 5, 7, 11, 20])
def test_class_balanced_batch_is_the_round_robin_reference(
    spark: SparkSession, mode: str, batch: int
) -> None:
    df = spark.createDataFrame(BALANCE_ROWS, INPUT).repartition(3)
    probs = np.array([r[1:] for r in BALANCE_ROWS])
    scores = margin(probs) if mode == "margin" else entropy(probs)
    rows = [(r[0], int(np.argmax(probs[i])), float(scores[i])) for i, r in enumerate(BALANCE_ROWS)]
    expected = round_robin(
        rows, batch, klass=lambda r: r[1], key=lambda r: (-r[2], r[0]), ident=lambda r: r[0]
    )
    picked = df.transform(uncertainty(batch, mode=mode, class_balance=True)).collect()
    assert [r["id"] for r in picked] == expected
    assert [r["selection_rank"] for r in picked] == list(range(1, len(expected) + 1))
    by_id = {r[0]: r[2] for r in rows}
    assert all(close(r["uncertainty_score"], by_id[r["id"]]) for r in picked)


def test_class_balance_reports_the_quotas(spark: SparkSession) -> None:
    df = spark.createDataFrame(BALANCE_ROWS, INPUT)
    selected = select(df, Uncertainty(batch_size=7, class_balance=True))
    assert selected.summary.metadata()["class_balance"] == {
        "pool_per_class": {"0": 6, "1": 3, "2": 2},
        "rows_per_class_level": 2,
        "classes_given_one_more": 1,
    }
