"""Rows as numpy blocks, and the cache the embedding strategies' passes read.

A `Block` is the rows of one partition, group or chunk: ids, seeded hash keys, features and
optional scores. `selection.engine.transfer` carries rows into blocks; the strategies cache
what their later passes read with `cache_with_summaries`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from pyspark import RDD, StorageLevel
from pyspark.accumulators import Accumulator, AccumulatorParam
from pyspark.serializers import BatchedSerializer, CPickleSerializer

from selection.errors import SelectionInputError

KEY = "_sel_key"  # seeded 64-bit hash of the id: order- and partitioning-independent randomness
ID = "_sel_id"
CHUNK_ROWS = 65_536  # rows converted at a time, bounding the Python objects alive at once
GROUP_ROWS = 65_536  # rows a strategy works on at once: their float32 features fit a cache
# Bytes per cached item. A 1 GB heap has 1 MB G1 regions, and an object over half a region
# takes whole regions while the block manager counts its bytes: cached items of 0.6-9 MB ran
# the heap out at 5M rows. Items of 256 kB are ordinary objects, counted as they are.
CACHE_ITEM_BYTES = 256 * 1024
# Python RDDs are cached as pickled bytes. From MEMORY_AND_DISK, a block read back from disk
# is first copied whole into the heap (a partition: 72 MB for BADGE at 5M rows), which ran a
# 1 GB driver out of memory; DISK_ONLY streams it. The OS page cache keeps it in memory anyway.
CACHE_LEVEL = StorageLevel.DISK_ONLY


@dataclass(frozen=True)
class Block:
    """Rows of one partition, group or chunk: ids, hash keys, features x and optional values p."""

    ids: np.ndarray  # int64 when every id is a Python int, else object
    keys: np.ndarray  # uint64
    x: np.ndarray  # (m, d) float64
    p: np.ndarray  # (m, c) float64; c = 0 when unused
    bad_rows: int = 0
    bad_example: str | None = None

    def __len__(self) -> int:
        return len(self.keys)

    def take(self, index: np.ndarray | slice) -> Block:
        """The rows at `index`; the bad-row count stays with the block it describes."""
        return Block(self.ids[index], self.keys[index], self.x[index], self.p[index])


def id_array(values: Sequence[Any]) -> np.ndarray:
    """Ids as int64 when they are all ints (cheap to pickle and index), else as objects."""
    if all(type(v) is int for v in values):
        try:
            return np.array(values, dtype=np.int64)
        except OverflowError:
            pass
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


def finish_block(ids: np.ndarray, keys: np.ndarray, values: np.ndarray, d: int) -> Block:
    """Rows with a null, NaN or infinite value are counted (with the smallest id) and dropped."""
    good = np.isfinite(values).all(axis=1)
    bad_rows = int(len(good) - good.sum())
    example = None
    if bad_rows:
        example = min(str(v) for v in ids[~good].tolist())
        ids, keys, values = ids[good], keys[good], values[good]
    x = np.ascontiguousarray(values[:, :d])
    return Block(ids, keys, x, np.ascontiguousarray(values[:, d:]), bad_rows, example)


def _chunk_to_block(rows: list[Any], d: int, c: int) -> Block:
    # Plain tuples first: Row's own __getitem__ is Python code, and indexing rows through it
    # cost twice the rest of the conversion.
    tuples = list(map(tuple, rows))
    ids = id_array([r[1] for r in tuples])
    keys = np.array([r[0] for r in tuples], dtype=np.int64).view(np.uint64)
    # dtype float64 turns None into NaN, so nulls are caught with NaN and inf.
    values = np.array([r[2:] for r in tuples], dtype=np.float64).reshape(len(rows), d + c)
    return finish_block(ids, keys, values, d)


def concat(blocks: Sequence[Block], d: int, c: int = 0) -> Block:
    """One block from many; bad-row counts add up, the smallest example id is kept."""
    if not blocks:
        return Block(
            np.empty(0, np.int64), np.empty(0, np.uint64), np.empty((0, d)), np.empty((0, c))
        )
    if len(blocks) == 1:
        return blocks[0]
    examples = [b.bad_example for b in blocks if b.bad_example is not None]
    return Block(
        np.concatenate([b.ids for b in blocks]),
        np.concatenate([b.keys for b in blocks]),
        np.concatenate([b.x for b in blocks]),
        np.concatenate([b.p for b in blocks]),
        sum(b.bad_rows for b in blocks),
        min(examples) if examples else None,
    )


def iter_blocks(rows: Iterable[Any], d: int, c: int = 0, size: int = CHUNK_ROWS) -> Iterable[Block]:
    """Rows of `keyed_rows` as blocks of at most `size` rows; bad rows counted, then dropped."""
    chunk: list[Any] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield _chunk_to_block(chunk, d, c)
            chunk = []
    if chunk:
        yield _chunk_to_block(chunk, d, c)


def sort_by_key(block: Block) -> Block:
    """The rows in the order of their seeded hash, ids breaking ties: no input order survives."""
    order = np.argsort(block.keys, kind="stable")
    keys = block.keys[order]
    tied = np.flatnonzero(keys[1:] == keys[:-1])
    for value in np.unique(keys[tied]):  # 64-bit hash collisions: rare, ordered by id
        run = np.flatnonzero(keys == value)
        # Null ids (which the job's checks then report) all hash alike: they sort first.
        order[run] = sorted(order[run].tolist(), key=lambda i: _id_order(block.ids[i]))
    out = block.take(order)
    return Block(out.ids, out.keys, out.x, out.p, block.bad_rows, block.bad_example)


def _id_order(ident: Any) -> tuple[bool, Any]:
    return (ident is not None, 0 if ident is None else ident)


def split_groups(block: Block, size: int = GROUP_ROWS, at_least: int = 1) -> list[Block]:
    """Sorted rows cut into max(ceil(m / size), at_least) contiguous groups (at most m) whose
    sizes differ by at most one."""
    m = len(block)
    count = min(m, max(-(-m // size), at_least))
    bounds = [m * i // count for i in range(count + 1)] if count else []
    return [block.take(slice(lo, hi)) for lo, hi in itertools.pairwise(bounds)]


def cache_items(block: Block, row_bytes: int) -> list[Block]:
    """`block` in consecutive items of about CACHE_ITEM_BYTES, the unit a cached RDD stores;
    `row_bytes` is what one row of the item takes (object ids count 64 bytes)."""
    if block.ids.dtype == object:
        row_bytes += 64
    rows = max(64, CACHE_ITEM_BYTES // max(1, row_bytes))
    return [block.take(slice(s, s + rows)) for s in range(0, len(block), rows)]


class _BySplit(AccumulatorParam[dict[int, Any]]):
    """Partition index -> summary. A recomputed partition sends the same summary again, so
    re-applied updates (retries, a cache block computed twice) change nothing."""

    def zero(self, value: dict[int, Any]) -> dict[int, Any]:
        return {}

    def addInPlace(self, value1: dict[int, Any], value2: dict[int, Any]) -> dict[int, Any]:
        value1.update(value2)
        return value1


def _summarised(
    index: int,
    items: Iterable[Any],
    *,
    task: Callable[[Iterable[Any]], Iterator[Any]],
    summaries: Accumulator[dict[int, Any]],
) -> Iterator[Any]:
    out = task(items)
    summaries.add({index: next(out)})
    yield from out


def cache_with_summaries(
    rdd: RDD[Any], task: Callable[[Iterable[Any]], Iterator[Any]]
) -> tuple[RDD[Any], list[Any]]:
    """Apply `task` to every partition and cache what it yields after its first item, the
    partition's summary; return the cached RDD and the summaries in partition order.

    The summaries travel in an accumulator and the cache is filled by a JVM-side count, so no
    second Python worker unpickles the cached rows only to hand the summaries over. Caches made
    here from partitions that yield item for item zip with each other (`RDD.zip`).
    """
    summaries = rdd.context.accumulator({}, _BySplit())
    cached = rdd.mapPartitionsWithIndex(partial(_summarised, task=task, summaries=summaries))
    # One pickle per item, so two such caches with items in step zip without being pickled
    # again (RDD.zip re-batches both sides unless their batch sizes agree).
    one_each = BatchedSerializer(CPickleSerializer(), 1)  # type: ignore[no-untyped-call]
    cached = cached._reserialize(one_each)
    cached.persist(CACHE_LEVEL)
    cached._jrdd.count()
    found = summaries.value
    if len(found) != cached.getNumPartitions():  # cannot happen unless a task lost its update
        raise RuntimeError(f"{len(found)} of {cached.getNumPartitions()} partition summaries")
    return cached, [found[i] for i in sorted(found)]


def raise_on_bad_rows(
    bad_rows: int, example: str | None, columns: Sequence[str], what: str
) -> None:
    """The same wording as the job's data checks, which would report these rows after the fact."""
    if bad_rows:
        raise SelectionInputError(
            f"{bad_rows} row(s) have a null, NaN or infinite value in the {what} "
            f"{', '.join(columns)}, e.g. id {example!r}"
        )
