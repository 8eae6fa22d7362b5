import math

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from selection.engine.scores import (
    ScoreSpec,
    confidence,
    entropy,
    least_confidence,
    margin,
    pseudo_label,
    uncertainty,
)
from selection.errors import SelectionInputError


def _row(spark: SparkSession, probs: list[float], prefix: str = "prob_class_") -> list[float]:
    df = spark.createDataFrame([tuple(probs)], [f"{prefix}{i}" for i in range(len(probs))])
    p = ScoreSpec(prefix=prefix).probabilities(df)
    out = df.select(
        confidence(p).alias("c"),
        pseudo_label(p).alias("y"),
        margin(p).alias("m"),
        entropy(p).alias("e"),
        least_confidence(p).alias("l"),
    ).first()
    assert out is not None
    return [out["c"], out["y"], out["m"], out["e"], out["l"]]


def test_expressions_on_one_row(spark: SparkSession) -> None:
    c, y, m, e, lc = _row(spark, [0.2, 0.7, 0.1])
    assert c == pytest.approx(0.7)
    assert y == 1
    assert m == pytest.approx(1 - (0.7 - 0.2))
    assert e == pytest.approx(-(0.2 * math.log(0.2) + 0.7 * math.log(0.7) + 0.1 * math.log(0.1)))
    assert lc == pytest.approx(0.3)


def test_ties_take_the_lowest_class_and_zero_log_zero_is_zero(spark: SparkSession) -> None:
    _, y, m, e, lc = _row(spark, [0.5, 0.5, 0.0])
    assert y == 0
    assert m == pytest.approx(1.0)
    assert e == pytest.approx(math.log(2))
    assert lc == pytest.approx(0.5)


def test_certain_row_has_zero_uncertainty(spark: SparkSession) -> None:
    _, y, m, e, lc = _row(spark, [0.0, 0.0, 1.0])
    assert (y, m, e, lc) == (2, 0.0, 0.0, 0.0)


def test_columns_are_ordered_numerically_not_lexically(spark: SparkSession) -> None:
    names = [f"prob_class_{i}" for i in (10, 2, 0, 1, 3, 4, 5, 6, 7, 8, 9)]
    df = spark.createDataFrame([tuple([0.0] * 11)], names)
    assert ScoreSpec().columns(df) == [f"prob_class_{i}" for i in range(11)]


def test_single_score_column_is_a_binary_model(spark: SparkSession) -> None:
    df = spark.createDataFrame([(0.8,)], ["score"])
    spec = ScoreSpec(single="score")
    row = df.select(*[p.alias(f"p{i}") for i, p in enumerate(spec.probabilities(df))]).first()
    assert row is not None
    assert (row["p0"], row["p1"]) == pytest.approx((0.2, 0.8))


def test_normalize_divides_by_the_row_sum(spark: SparkSession) -> None:
    df = spark.createDataFrame([(2.0, 6.0)], ["prob_class_0", "prob_class_1"])
    probs = ScoreSpec(normalize=True).probabilities(df)
    row = df.select(confidence(probs).alias("c"), pseudo_label(probs).alias("y")).first()
    assert row is not None
    assert row["c"] == pytest.approx(0.75)
    assert row["y"] == 1


def test_uncertainty_dispatches_by_mode_name(spark: SparkSession) -> None:
    df = spark.createDataFrame([(0.6, 0.4)], ["prob_class_0", "prob_class_1"])
    probs = ScoreSpec().probabilities(df)
    row = df.select(uncertainty("least_confidence", probs).alias("u")).first()
    assert row is not None
    assert row["u"] == pytest.approx(0.4)


@pytest.mark.parametrize(
    ("columns", "spec", "fragment"),
    [
        (["prob_class_0"], ScoreSpec(), "need at least two probability columns"),
        (["prob_class_0", "prob_class_2"], ScoreSpec(), "'prob_class_1' is missing"),
        (["p_0", "p_1"], ScoreSpec(), "found 0"),
        (["x"], ScoreSpec(single="score"), "score column 'score' (ScoreSpec(single=...))"),
    ],
)
def test_score_column_contract(
    spark: SparkSession, columns: list[str], spec: ScoreSpec, fragment: str
) -> None:
    df = spark.createDataFrame([tuple([0.5] * len(columns))], columns)
    with pytest.raises(SelectionInputError) as info:
        spec.columns(df)
    assert fragment in str(info.value)


def test_non_numeric_score_column_is_named(spark: SparkSession) -> None:
    df = spark.createDataFrame([(0.5, "0.5")], ["prob_class_0", "prob_class_1"])
    with pytest.raises(SelectionInputError, match="score column 'prob_class_1' is not numeric"):
        ScoreSpec().columns(df)
    assert df.select(F.lit(1)).count() == 1
