"""Feature columns, the pool without labelled rows, and fetching the chosen rows back."""

from __future__ import annotations

import re

import pytest
from chispa import assert_approx_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType

from selection.engine.frames import (
    exclude_labeled,
    fetch_selected,
    resolve_feature_columns,
    with_features,
)
from selection.engine.scores import ScoreSpec
from selection.errors import SelectionInputError
from selection.strategies.badge import Badge, select_badge
from selection.strategies.diversity import Diversity, select_diversity

SCHEMA = StructType(
    [
        StructField("id", StringType()),
        StructField("label", LongType()),
        StructField("a", DoubleType()),
        StructField("b", LongType()),
        StructField("name", StringType()),
        StructField("prob_class_0", DoubleType()),
        StructField("prob_class_1", DoubleType()),
    ]
)
SCORES = ["prob_class_0", "prob_class_1"]


def _empty(spark: SparkSession, schema: StructType = SCHEMA) -> DataFrame:
    return spark.createDataFrame([], schema)


def test_feature_fields_win_in_their_order(spark: SparkSession) -> None:
    df = _empty(spark)
    got = resolve_feature_columns(df, ["b", "a", "b"], id_col="id", score_cols=SCORES)
    assert got == ["b", "a"]


def test_numeric_columns_other_than_id_label_scores(spark: SparkSession) -> None:
    got = resolve_feature_columns(
        _empty(spark), [], id_col="id", label_col="label", score_cols=SCORES
    )
    assert got == ["a", "b"]


def test_emb_columns_are_the_default(spark: SparkSession) -> None:
    schema = StructType(
        [*SCHEMA.fields, StructField("emb_1", DoubleType()), StructField("emb_0", DoubleType())]
    )
    got = resolve_feature_columns(_empty(spark, schema), [], id_col="id", score_cols=SCORES)
    assert got == ["emb_1", "emb_0"]


@pytest.mark.parametrize(
    ("fields", "extra", "message"),
    [
        (["a", "missing"], None, "feature column 'missing' (features=) is not in the input"),
        (
            ["a", "name"],
            None,
            "feature column 'name' (features=) is not numeric (type string)",
        ),
        ([], StructField("emb_x", StringType()), "feature column 'emb_x' (emb_* columns) is not"),
    ],
)
def test_bad_feature_columns_are_named(
    spark: SparkSession, fields: list[str], extra: StructField | None, message: str
) -> None:
    schema = StructType([*SCHEMA.fields, *([extra] if extra else [])])
    with pytest.raises(SelectionInputError, match=re.escape(message)):
        resolve_feature_columns(_empty(spark, schema), fields, id_col="id", score_cols=SCORES)


def test_no_feature_columns_is_an_error(spark: SparkSession) -> None:
    schema = StructType([SCHEMA["id"], SCHEMA["prob_class_0"], SCHEMA["prob_class_1"]])
    with pytest.raises(SelectionInputError, match="no feature columns for diversity/badge"):
        resolve_feature_columns(_empty(spark, schema), [], id_col="id", score_cols=SCORES)


def test_with_features_resolves_the_parameters_columns(spark: SparkSession) -> None:
    params = with_features(Diversity(batch_size=2), _empty(spark), label_col="label")
    assert params.features == ("a", "b")
    assert params.batch_size == 2
    kept = with_features(Badge(features=("b",), rounds=2), _empty(spark))
    assert (kept.features, kept.rounds) == (("b",), 2)


def _small(spark: SparkSession) -> DataFrame:
    rows = [
        ("a", 0, 1.0, 1, "x", 0.9, 0.1),
        ("b", 1, 2.0, 2, "y", 0.6, 0.4),
        ("c", 1, 3.0, 3, "z", 0.5, 0.5),
    ]
    return spark.createDataFrame(rows, SCHEMA)


def test_fetch_selected_keeps_pick_order_and_adds_the_al_columns(spark: SparkSession) -> None:
    df = _small(spark)
    got = fetch_selected(df, "id", ["c", "a"], mode="margin", scores=ScoreSpec())
    expected_schema = StructType(
        [
            *SCHEMA.fields,
            StructField("uncertainty_score", DoubleType()),
            StructField("data_source", StringType(), nullable=False),
            StructField("selection_rank", LongType()),
        ]
    )
    expected = spark.createDataFrame(
        [
            ("c", 1, 3.0, 3, "z", 0.5, 0.5, 1.0, "active_learning", 1),
            ("a", 0, 1.0, 1, "x", 0.9, 0.1, 0.2, "active_learning", 2),
        ],
        expected_schema,
    )
    assert_approx_df_equality(got, expected, 1e-12, ignore_nullable=True)
    assert fetch_selected(df, "id", [], mode="margin", scores=ScoreSpec()).count() == 0


def test_exclude_labeled_keeps_the_column_order(spark: SparkSession) -> None:
    df = _small(spark)
    labeled = spark.createDataFrame([("b",)], "id string")
    out = exclude_labeled(df, labeled, "id")
    assert out.columns == df.columns
    assert sorted(r["id"] for r in out.collect()) == ["a", "c"]


def test_null_feature_is_an_error_not_dropped(spark: SparkSession) -> None:
    rows = [("a", 0, 1.0, 1, "x", 0.9, 0.1), ("b", 1, None, 2, "y", 0.6, 0.4)]
    df = spark.createDataFrame(rows, SCHEMA)
    head = r"1 row\(s\) have a null, NaN or infinite value in the "
    with pytest.raises(SelectionInputError, match=head + "feature columns a, b, e.g. id 'b'"):
        select_diversity(df, Diversity(batch_size=1, features=("a", "b")))
    columns = "feature or score columns a, b, prob_class_0, prob_class_1, e.g. id 'b'"
    with pytest.raises(SelectionInputError, match=head + columns):
        select_badge(df, Badge(batch_size=1, features=("a", "b"), rounds=1))
