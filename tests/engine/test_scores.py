import math

import numpy as np
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from selection.engine.scores import (
    Probabilities,
    ScoreSpec,
    confidence,
    entropy,
    least_confidence,
    margin,
    pseudo_label,
    second_largest,
    uncertainty,
)
from selection.engine.values import NUMERIC_TEXT
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


@pytest.mark.parametrize(
    ("probs", "second"),
    [
        ([0.1, 0.4, 0.1, 0.4, 0.0], 0.4),  # the top tied away from the first argmax
        ([0.4, 0.3, 0.3], 0.3),
        ([0.1, 0.2, 0.7], 0.2),  # the top last
        ([0.7, 0.2, 0.1], 0.2),  # the top first
        ([0.0, 1.0], 0.0),
    ],
)
def test_second_largest_counts_ties(spark: SparkSession, probs: list[float], second: float) -> None:
    df = spark.createDataFrame([tuple(probs)], [f"prob_class_{i}" for i in range(len(probs))])
    row = df.select(second_largest(ScoreSpec().probabilities(df)).alias("s")).first()
    assert row is not None
    assert row["s"] == pytest.approx(second)


def _wide(spark: SparkSession, p: np.ndarray) -> DataFrame:
    """Rows of `p` as columns prob_class_0..: built from one array column, not C Python values."""
    df = spark.createDataFrame(
        [(i, [float(v) for v in row]) for i, row in enumerate(p)], "id long, p array<double>"
    )
    return df.select("id", *[F.col("p")[c].alias(f"prob_class_{c}") for c in range(p.shape[1])])


@pytest.mark.parametrize(("classes", "normalize"), [(32, False), (33, True), (1000, True)])
def test_scores_match_numpy_for_many_classes(
    spark: SparkSession, classes: int, normalize: bool
) -> None:
    rng = np.random.default_rng(classes)
    raw = rng.dirichlet(np.full(classes, 0.3), size=6) * (3.0 if normalize else 1.0)
    raw[0, :2] = raw[0].max() * 2  # a tied top: argmax is the lower class, margin is 1
    if not normalize:
        raw = raw / raw.sum(axis=1, keepdims=True)
    df = _wide(spark, raw)
    probs = ScoreSpec(normalize=normalize).probabilities(df)
    rows = (
        df.select(
            "id",
            confidence(probs).alias("c"),
            pseudo_label(probs).alias("y"),
            margin(probs).alias("m"),
            entropy(probs).alias("e"),
            least_confidence(probs).alias("l"),
            probs[classes - 1].alias("last"),
        )
        .orderBy("id")
        .collect()
    )
    p = raw / raw.sum(axis=1, keepdims=True)
    top2 = np.sort(p, axis=1)[:, ::-1][:, :2]
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=1)
    for i, row in enumerate(rows):
        assert row["c"] == pytest.approx(p[i].max(), abs=1e-12)
        assert row["y"] == int(np.argmax(p[i]))
        assert row["m"] == pytest.approx(1 - (top2[i, 0] - top2[i, 1]), abs=1e-12)
        assert row["e"] == pytest.approx(ent[i], abs=1e-9)
        assert row["l"] == pytest.approx(1 - p[i].max(), abs=1e-12)
        assert row["last"] == pytest.approx(p[i, -1], abs=1e-15)
    assert rows[0]["y"] == 0 and rows[0]["m"] == pytest.approx(1.0)


def test_normalised_probabilities_share_one_row_sum(spark: SparkSession) -> None:
    df = spark.createDataFrame([(1.0, 3.0)], ["prob_class_0", "prob_class_1"])
    probs = ScoreSpec(normalize=True).probabilities(df)
    assert isinstance(probs, Probabilities) and probs.row_sum is not None
    row = df.select(*[p.alias(f"p{i}") for i, p in enumerate(probs)]).first()
    assert row is not None
    assert (row["p0"], row["p1"]) == pytest.approx((0.25, 0.75))
    assert len(probs[:1]) == 1


def test_text_score_columns_count_as_numeric_only_when_marked(spark: SparkSession) -> None:
    marked = StructField("prob_class_0", StringType(), metadata={NUMERIC_TEXT: True})
    schema = StructType(
        [marked, StructField("prob_class_1", StringType(), metadata={NUMERIC_TEXT: True})]
    )
    df = spark.createDataFrame([("0.25", "7.5E-1")], schema)
    row = df.select(confidence(ScoreSpec().probabilities(df)).alias("c")).first()
    assert row is not None and row["c"] == pytest.approx(0.75)
    unmarked = spark.createDataFrame([("0.25", "0.75")], "prob_class_0 string, prob_class_1 string")
    with pytest.raises(
        SelectionInputError, match="'prob_class_0' is not numeric \\(type string\\)"
    ):
        ScoreSpec().columns(unmarked)


def test_flat_and_array_forms_agree_on_ties_nulls_and_nan(
    spark: SparkSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [
        (0, 0.3, 0.3, 0.4),
        (1, 0.4, 0.4, 0.2),
        (2, None, 0.6, 0.4),
        (3, float("nan"), 0.5, 0.5),
        (4, None, None, None),
        (5, 0.0, 1.0, 0.0),
    ]
    df = spark.createDataFrame(
        rows, "id long, prob_class_0 double, prob_class_1 double, prob_class_2 double"
    )

    def scores() -> list[tuple[object, ...]]:
        p = ScoreSpec().probabilities(df)
        out = df.select("id", confidence(p), pseudo_label(p), second_largest(p), margin(p)).orderBy(
            "id"
        )
        return [tuple(r)[1:] for r in out.collect()]

    flat = scores()
    monkeypatch.setattr("selection.engine.scores.TREE_TERMS", 0)
    arrays = scores()
    assert [str(r) for r in flat] == [str(r) for r in arrays]
    assert flat[1][1] == 0 and flat[1][3] == pytest.approx(1.0)
