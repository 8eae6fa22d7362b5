"""Feature-column resolution, rows -> numpy blocks, and fetching the chosen rows back."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from chispa import assert_approx_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    DoubleType,
    LongType,
    StringType,
    StructField,
    StructType,
)

from selection.engine.blocks import (
    ROW_TRANSFER_CONF,
    Block,
    Centres32,
    arrow_usable,
    cache_with_summaries,
    error_bound,
    exclude_labeled,
    fetch_selected,
    hashed_blocks,
    id_array,
    iter_blocks,
    keyed_rows,
    max_nearest_sq_dist,
    nearest_sq_dist,
    resolve_feature_columns,
    row_transfer,
    sort_by_key,
    split_groups,
    unit_rows,
)
from selection.engine.scores import ScoreSpec
from selection.errors import SelectionInputError
from selection.strategies.badge import select_badge
from selection.strategies.diversity import select_diversity
from tests.helpers import numpy_frame

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
    assert blocks[2].ids.tolist() == ["r5"]
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


def test_ids_are_int64_only_when_every_id_is_an_int() -> None:
    assert id_array([3, 1, 2]).dtype == np.int64
    assert id_array(["a", "b"]).tolist() == ["a", "b"]
    assert id_array([1, 2.0]).tolist() == [1, 2.0]  # a float id is not turned into an int
    assert id_array([2**70]).tolist() == [2**70]
    assert id_array([True, 1]).dtype == object


def _block(keys: list[int], ids: list[Any]) -> Block:
    x = np.arange(len(keys), dtype=np.float64)[:, None]
    return Block(id_array(ids), np.array(keys, dtype=np.uint64), x, np.empty((len(keys), 0)))


def test_rows_sort_by_hash_and_by_id_on_a_collision() -> None:
    block = _block([9, 4, 7, 4, 4], ["e", "d", "a", "b", "c"])
    out = sort_by_key(block)
    assert out.keys.tolist() == [4, 4, 4, 7, 9]
    assert out.ids.tolist() == ["b", "c", "d", "a", "e"]
    # The rows move with their keys: row "d" was row 1.
    assert out.x[:, 0].tolist() == [3.0, 4.0, 1.0, 2.0, 0.0]


def test_groups_are_contiguous_and_near_equal() -> None:
    block = _block(list(range(10)), list(range(10)))
    sizes = [len(g) for g in split_groups(block, size=4)]
    assert sizes == [3, 3, 4]
    assert [len(g) for g in split_groups(block, size=100, at_least=4)] == [2, 3, 2, 3]
    assert len(split_groups(block, size=100, at_least=50)) == 10  # never an empty group
    assert split_groups(_block([], []), size=4) == []
    assert np.concatenate([g.keys for g in split_groups(block, size=4)]).tolist() == list(range(10))


def _hashed_rows(df: DataFrame, parts: int) -> list[tuple[list[int], list[Any], list[float]]]:
    keyed = keyed_rows(df, "id", ["emb_0", "emb_1"], 5)
    blocks, _ = hashed_blocks(keyed, 2, parts)
    return [(b.keys.tolist(), b.ids.tolist(), b.x.ravel().tolist()) for b in blocks.collect()]


def test_hashed_blocks_hold_each_row_once_in_its_hash_partition(
    spark: SparkSession, tmp_path: Path
) -> None:
    x = np.random.default_rng(3).normal(size=(500, 2))
    df = numpy_frame(spark, tmp_path, x)
    got = _hashed_rows(df, 3)
    assert len(got) == 3
    for p, (keys, _ids, _x) in enumerate(got):
        assert keys == sorted(keys)
        assert all(k % 3 == p for k in keys)
    ids = sorted(i for _, part_ids, _ in got for i in part_ids)
    assert ids == list(range(500))
    # Another split of the same rows: the same blocks, row for row.
    assert _hashed_rows(df.repartition(7), 3) == got


def _both_transfers(spark: SparkSession, df: DataFrame) -> dict[str, list[Block]]:
    seen = {}
    for transfer in ("rows", "arrow"):
        spark.conf.set(ROW_TRANSFER_CONF, transfer)
        try:
            keyed = keyed_rows(df, "id", ["emb_0", "emb_1"], 5)
            blocks, used = hashed_blocks(keyed, 2, 4)
            seen[used] = blocks.collect()
        finally:
            spark.conf.unset(ROW_TRANSFER_CONF)
    return seen


def _contents(blocks: list[Block]) -> list[tuple[Any, ...]]:
    return [(b.keys.tolist(), b.ids.tolist(), b.x.tobytes(), b.bad_rows) for b in blocks]


def test_both_transfers_give_the_same_blocks(spark: SparkSession, tmp_path: Path) -> None:
    if not arrow_usable(spark):
        pytest.skip("pyarrow is not importable here: only the row transfer can run")
    x = np.random.default_rng(4).normal(size=(300, 2))
    x[17, 1] = np.nan  # counted as bad by both
    seen = _both_transfers(spark, numpy_frame(spark, tmp_path, x))
    assert sorted(seen) == ["arrow", "rows"]
    for got in seen.values():
        assert sum(b.bad_rows for b in got) == 1
        assert [b.bad_example for b in got if b.bad_example] == ["17"]
    assert _contents(seen["rows"]) == _contents(seen["arrow"])
    # String ids and a null feature; ids of other types always take the row transfer.
    rows = [(f"r{i}", float(i), None if i == 3 else 1.0) for i in range(40)]
    strings = spark.createDataFrame(rows, "id string, emb_0 double, emb_1 double")
    seen = _both_transfers(spark, strings)
    assert _contents(seen["rows"]) == _contents(seen["arrow"])
    assert sum(b.bad_rows for b in seen["arrow"]) == 1
    # Null ids reach the driver as None on both (the job's checks report them, by name).
    nulls = [(None if i in (4, 9) else i, float(i), 1.0) for i in range(40)]
    with_nulls = spark.createDataFrame(nulls, "id long, emb_0 double, emb_1 double")
    seen = _both_transfers(spark, with_nulls)
    assert _contents(seen["rows"]) == _contents(seen["arrow"])
    assert sum(i is None for b in seen["arrow"] for i in b.ids.tolist()) == 2
    dates = strings.withColumn("id", F.to_date(F.lit("2024-01-01")) + F.col("emb_0").cast("int"))
    assert sorted(_both_transfers(spark, dates)) == ["rows"]


def test_row_transfer_setting(spark: SparkSession) -> None:
    spark.conf.set(ROW_TRANSFER_CONF, "rows")
    try:
        assert row_transfer(spark) == "rows"
        spark.conf.set(ROW_TRANSFER_CONF, "pickles")
        with pytest.raises(SelectionInputError, match="'pickles' is not one of auto, rows"):
            row_transfer(spark)
    finally:
        spark.conf.unset(ROW_TRANSFER_CONF)
    assert row_transfer(spark) == ("arrow" if arrow_usable(spark) else "rows")


def test_selection_never_imports_pyarrow_at_module_level() -> None:
    """The SageMaker image has no pyarrow: importing the engine and the job must not need it."""
    code = (
        "import sys; sys.modules['pyarrow'] = None; sys.modules['pandas'] = None\n"
        "import selection.engine.blocks, selection.strategies.diversity\n"
        "import selection.strategies.badge, selection.job.runner, jobs.active_sample_selection\n"
        "from selection.engine.blocks import _arrow_on_driver, _pyarrow_importable\n"
        "assert not _arrow_on_driver() and not _pyarrow_importable(0)\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def _summarise_and_double(items: Iterable[int]) -> Iterator[Any]:
    values = list(items)
    yield ("sum", sum(values))
    yield from (2 * v for v in values)


def test_cache_with_summaries(spark: SparkSession) -> None:
    rdd = spark.sparkContext.parallelize(range(10), 3)
    cached, summaries = cache_with_summaries(rdd, _summarise_and_double)
    try:
        assert summaries == [("sum", 3), ("sum", 12), ("sum", 30)]
        assert cached.collect() == [2 * v for v in range(10)]
        assert cached.is_cached
    finally:
        cached.unpersist()


def _brute_nearest(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    return ((x[:, None, :] - centres[None, :, :]) ** 2).sum(-1).min(1)


@pytest.mark.parametrize("offset", [0.0, 1e4])
def test_float32_screening_gives_float64_distances(offset: float) -> None:
    """Centres in near-tied pairs, far from the origin: float32 alone would pick wrong ones."""
    rng = np.random.default_rng(1)
    base = rng.normal(size=(40, 6))
    centres = np.vstack([base, base + 1e-6]) + offset
    x = rng.normal(size=(3000, 6)) * 2 + offset
    x[:40] = centres[:40] + 1e-7  # right next to a centre and its near twin
    brute = _brute_nearest(x, centres)
    got = nearest_sq_dist(x, centres)
    np.testing.assert_allclose(got, brute, rtol=1e-9, atol=1e-18)
    assert nearest_sq_dist(x, Centres32.of(centres)).tolist() == got.tolist()
    assert max_nearest_sq_dist(x, centres) == pytest.approx(brute.max(), rel=1e-12)
    assert max_nearest_sq_dist(x[:0], centres) == 0.0


def test_error_bound_covers_the_float32_error() -> None:
    rng = np.random.default_rng(2)
    for scale in (1e-3, 1.0, 1e3):
        x = rng.normal(size=(2000, 16)) * scale
        c = rng.normal(size=(300, 16)) * scale
        exact = ((x[:, None, :] - c[None, :, :]) ** 2).sum(-1)
        x32, c32 = x.astype(np.float32), c.astype(np.float32)
        sq, csq = (x32 * x32).sum(1), (c32 * c32).sum(1)
        approx = sq[:, None] + csq[None, :] - 2 * (x32 @ c32.T)
        bound = error_bound(16, (x * x).sum(1)[:, None], float((c * c).sum(1).max()))
        assert np.all(np.abs(approx - exact) <= bound)
