"""Feature-column resolution, rows -> numpy blocks, and fetching the chosen rows back."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from chispa import assert_approx_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import (
    DoubleType,
    LongType,
    StringType,
    StructField,
    StructType,
)

from selection.engine.blocks import (
    exclude_labeled,
    fetch_selected,
    iter_blocks,
    nearest_sq_dist,
    resolve_feature_columns,
    unit_rows,
)
from selection.engine.scores import ScoreSpec
from selection.errors import SelectionInputError
from selection.strategies.badge import select_badge
from selection.strategies.diversity import select_diversity

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


def test_blocks_count_and_drop_null_nan_and_inf_rows() -> None:
    rows = [
        (1, "r1", 1.0, 2.0, 0.5),
        (2, "r2", None, 2.0, 0.5),
        (3, "r3", 1.0, math.nan, 0.5),
        (4, "r4", 1.0, 2.0, math.inf),
        (5, "r5", 3.0, 4.0, 0.25),
    ]
    blocks = list(iter_blocks(rows, d=2, c=1, size=2))
    assert [len(b) for b in blocks] == [1, 0, 1]
    assert sum(b.bad_rows for b in blocks) == 3
    assert [b.bad_example for b in blocks] == ["r2", "r3", None]
    assert blocks[2].ids == ["r5"]
    np.testing.assert_array_equal(blocks[2].x, [[3.0, 4.0]])
    np.testing.assert_array_equal(blocks[2].p, [[0.25]])
    assert blocks[0].keys.dtype == np.uint64


def test_nearest_distance_is_exact_far_from_the_origin() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(7, 3)) + 1e8
    x = np.vstack([centres[2] + 1e-3, rng.normal(size=(50, 3)) + 1e8])
    brute = ((x[:, None, :] - centres[None, :, :]) ** 2).sum(-1).min(1)
    got = nearest_sq_dist(x, centres, chunk=16)
    np.testing.assert_allclose(got, brute, rtol=1e-6)
    assert got[0] == pytest.approx(3e-6, rel=1e-3)


def test_unit_rows_leave_zero_rows_zero() -> None:
    got = unit_rows(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(got, [[0.6, 0.8], [0.0, 0.0]])


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
        select_diversity(df, 1, id_col="id", features=["a", "b"])
    columns = "feature or score columns a, b, prob_class_0, prob_class_1, e.g. id 'b'"
    with pytest.raises(SelectionInputError, match=head + columns):
        select_badge(df, 1, id_col="id", features=["a", "b"], rounds=1)
