"""Rows -> numpy blocks: bad rows counted, hash order, groups, the summarised cache."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
from pyspark.sql import SparkSession

from selection.engine.blocks import (
    Block,
    cache_with_summaries,
    id_array,
    iter_blocks,
    sort_by_key,
    split_groups,
)


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


def test_null_ids_hash_alike_and_sort_without_comparing_none() -> None:
    block = _block([5, 5, 5, 2], [None, 3, None, 7])
    out = sort_by_key(block)
    assert out.ids.tolist() == [7, None, None, 3]
