"""Rows -> numpy blocks grouped by hash, by either transfer, and the switch between them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from selection.engine.blocks import Block
from selection.engine.transfer import (
    ROW_TRANSFER_CONF,
    arrow_usable,
    hashed_blocks,
    keyed_rows,
    row_transfer,
)
from selection.errors import SelectionInputError
from tests.helpers import numpy_frame


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
        "import importlib, pkgutil, selection, jobs.active_sample_selection\n"
        "for m in pkgutil.walk_packages(selection.__path__, 'selection.'):\n"
        "    importlib.import_module(m.name)\n"
        "from selection.engine.transfer import _arrow_on_driver, _pyarrow_importable\n"
        "assert not _arrow_on_driver() and not _pyarrow_importable(0)\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
