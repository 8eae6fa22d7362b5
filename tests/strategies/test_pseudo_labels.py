from typing import Any

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import (
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
)

from selection import (
    ConfidenceThreshold,
    SelectionParamError,
    confidence_threshold,
    top_k_per_class,
    with_pseudo_labels,
)
from selection.engine.scores import ScoreSpec
from selection.strategies.pseudo_labels import select_confidence_threshold

INPUT = StructType(
    [
        StructField("id", LongType()),
        StructField("prob_class_0", DoubleType()),
        StructField("prob_class_1", DoubleType()),
    ]
)
OUTPUT = StructType(
    [
        *INPUT.fields,
        StructField("pseudo_label", IntegerType()),
        StructField("confidence", DoubleType()),
        StructField("data_source", StringType(), nullable=False),
        StructField("selection_rank", LongType()),
    ]
)
ROWS = [
    (1, 0.95, 0.05),
    (2, 0.10, 0.90),
    (3, 0.50, 0.50),
    (4, 0.05, 0.95),  # ties with id 1 on confidence: the lower id ranks first
    (5, 0.99, 0.01),
    (6, 0.20, 0.80),
    (7, 0.15, 0.85),
]


def _input(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame(ROWS, INPUT).repartition(3)


def _expected(spark: SparkSession, picks: list[tuple[int, int, float]]) -> DataFrame:
    by_id = {r[0]: r for r in ROWS}
    rows = [
        (*by_id[i], label, conf, "pseudo_labeled", rank + 1)
        for rank, (i, label, conf) in enumerate(picks)
    ]
    return spark.createDataFrame(rows, OUTPUT)


def test_confidence_threshold_keeps_rows_at_or_above_it(spark: SparkSession) -> None:
    actual = _input(spark).transform(confidence_threshold(0.9))
    expected = _expected(spark, [(5, 0, 0.99), (1, 0, 0.95), (4, 1, 0.95), (2, 1, 0.90)])
    assert_df_equality(actual, expected, ignore_nullable=True)


def test_confidence_threshold_with_max_samples_keeps_the_most_confident(
    spark: SparkSession,
) -> None:
    actual = _input(spark).transform(confidence_threshold(0.9, max_samples=2))
    expected = _expected(spark, [(5, 0, 0.99), (1, 0, 0.95)])
    assert_df_equality(actual, expected, ignore_nullable=True)


def test_threshold_one_selects_only_certain_rows(spark: SparkSession) -> None:
    assert _input(spark).transform(confidence_threshold(1.0)).count() == 0


def test_top_k_per_class_ignores_the_threshold(spark: SparkSession) -> None:
    actual = _input(spark).transform(top_k_per_class(k=2))
    expected = _expected(spark, [(5, 0, 0.99), (1, 0, 0.95), (4, 1, 0.95), (2, 1, 0.90)])
    assert_df_equality(actual, expected, ignore_nullable=True)


def test_top_k_per_class_keeps_short_classes_and_caps_the_total(spark: SparkSession) -> None:
    actual = _input(spark).transform(top_k_per_class(k=3, max_samples=4))
    # class 0 holds ids 5, 1, 3 (3 is a 0.5 tie -> class 0); class 1 holds 4, 2, 7, 6.
    expected = _expected(spark, [(5, 0, 0.99), (1, 0, 0.95), (4, 1, 0.95), (2, 1, 0.90)])
    assert_df_equality(actual, expected, ignore_nullable=True)
    everything = _input(spark).transform(top_k_per_class(k=10))
    assert everything.count() == len(ROWS)


def test_string_ids_break_ties_in_ascending_order(spark: SparkSession) -> None:
    df = spark.createDataFrame(
        [("b", 0.9, 0.1), ("a", 0.9, 0.1), ("c", 0.1, 0.9)],
        ["key", "prob_class_0", "prob_class_1"],
    )
    picked = df.transform(confidence_threshold(0.9, id_col="key"))
    assert [r["key"] for r in picked.collect()] == ["a", "b", "c"]


def test_transforms_take_a_custom_score_prefix(spark: SparkSession) -> None:
    df = spark.createDataFrame([(1, 0.3, 0.7)], ["id", "p0", "p1"])
    row = df.transform(with_pseudo_labels(ScoreSpec(prefix="p"))).first()
    assert row is not None
    assert (row["pseudo_label"], row["confidence"]) == (1, 0.7)


def test_max_per_class_keeps_each_class_most_confident_rows(spark: SparkSession) -> None:
    # Rows at or above 0.85: class 0 holds 5, 1; class 1 holds 4, 2, 7 (7 is cut by the cap).
    actual = _input(spark).transform(confidence_threshold(0.85, max_per_class=2))
    expected = _expected(spark, [(5, 0, 0.99), (1, 0, 0.95), (4, 1, 0.95), (2, 1, 0.90)])
    assert_df_equality(actual, expected, ignore_nullable=True)


def test_max_per_class_breaks_ties_by_id_and_max_samples_caps_the_total(
    spark: SparkSession,
) -> None:
    # Ids 1 and 4 tie at 0.95 in different classes; within class 0, id 1 beats id 3 (0.5 tie).
    capped = _input(spark).transform(confidence_threshold(0.5, max_per_class=1, max_samples=1))
    assert_df_equality(capped, _expected(spark, [(5, 0, 0.99)]), ignore_nullable=True)
    one_each = _input(spark).transform(confidence_threshold(0.95, max_per_class=1))
    expected = _expected(spark, [(5, 0, 0.99), (4, 1, 0.95)])
    assert_df_equality(one_each, expected, ignore_nullable=True)


def test_class_thresholds_apply_per_predicted_class(spark: SparkSession) -> None:
    actual = _input(spark).transform(confidence_threshold(class_thresholds=[0.97, 0.85]))
    expected = _expected(spark, [(5, 0, 0.99), (4, 1, 0.95), (2, 1, 0.90), (7, 1, 0.85)])
    assert_df_equality(actual, expected, ignore_nullable=True)
    # A class without a threshold gets no row.
    only_one = _input(spark).transform(confidence_threshold(class_thresholds=[None, 0.9]))
    assert [r["id"] for r in only_one.collect()] == [4, 2]


def test_auto_threshold_needs_fitted_thresholds(spark: SparkSession) -> None:
    params = ConfidenceThreshold(threshold="auto", target_accuracy=0.9)
    with pytest.raises(SelectionParamError, match="threshold is 'auto'"):
        select_confidence_threshold(_input(spark), params)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": "auto"}, r"target_accuracy=0.0 must be in \(0, 1\) when threshold='auto'"),
        ({"threshold": 0.9, "target_accuracy": 0.9}, "target_accuracy=0.9 needs threshold='auto'"),
        ({"threshold": "high"}, "threshold='high' is not a number or 'auto'"),
        ({"max_per_class": -1}, "max_per_class=-1 must be >= 0"),
        ({"confidence_level": 1.0}, r"confidence_level=1.0 is outside \[0.5, 1.0\)"),
    ],
)
def test_confidence_threshold_parameters_are_checked(kwargs: Any, message: str) -> None:
    with pytest.raises(SelectionParamError, match=message):
        ConfidenceThreshold(**kwargs)


def test_auto_is_read_case_insensitively() -> None:
    assert ConfidenceThreshold(threshold=" AUTO ", target_accuracy=0.9).threshold == "auto"
