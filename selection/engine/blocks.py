"""Feature columns of the embedding strategies and the rows <-> numpy plumbing they share.

Rows reach Python once. Executors turn them into numpy blocks through `rdd.mapPartitions` over
rows (the SageMaker image has no pyarrow) or, where pyarrow works on the driver and on the
executors, through `mapInArrow`, which moves rows several times faster. A Python-side shuffle
of those blocks then sends every row to the partition its seeded hash names, and each partition
sorts its rows by that hash. What a partition holds, in which order, then depends only on the
rows and the seed: not on the input's files or splits, nor on the transfer that carried them.

Distances run in float32, as matrix products on precomputed norms in tiles that stay in a
core's cache. Reported figures are float64: the rows whose float32 value is within its rounding
bound (`error_bound`) of deciding a figure are measured again exactly.
"""

from __future__ import annotations

import importlib
import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from pyspark import RDD, SparkContext, StorageLevel
from pyspark.accumulators import Accumulator, AccumulatorParam
from pyspark.serializers import BatchedSerializer, CPickleSerializer
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    IntegerType,
    IntegralType,
    LongType,
    StringType,
    StructField,
    StructType,
)

from selection.engine.scores import ScoreSpec, uncertainty
from selection.engine.values import id_hash, is_numeric
from selection.errors import SelectionInputError
from selection.names import (
    DATA_SOURCE,
    DATA_SOURCE_AL,
    EMBEDDING_PREFIX,
    SELECTION_RANK,
    UNCERTAINTY_SCORE,
    Metric,
    UncertaintyMode,
)

KEY = "_sel_key"  # seeded 64-bit hash of the id: order- and partitioning-independent randomness
ID = "_sel_id"
PICK = "_sel_pick"
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
# Spark conf naming the row transfer: auto (the default), rows or arrow; see `row_transfer`.
ROW_TRANSFER_CONF = "spark.selection.rowTransfer"
# P, the partitions of the hash shuffle: one per 16 MB of input, so a partition (which a Python
# worker holds whole to sort it) stays near 60k rows at any input size; at least 16 once the
# input has 16 * 4 MB, so two cores get balanced work, fewer below (a task costs a worker).
MIN_PARTITIONS = 16
PARTITION_BYTES = 16 * 1024**2
SMALL_PARTITION_BYTES = 4 * 1024**2
TILE = 1 << 18  # float32 entries of one distance tile: 1 MB, half of one core's L2 here
EPS32 = float(np.finfo(np.float32).eps)


def resolve_feature_columns(
    df: DataFrame,
    feature_fields: Sequence[str],
    *,
    id_col: str,
    label_col: str = "",
    score_cols: Sequence[str] = (),
) -> list[str]:
    """`feature_fields` if given, else the `emb_*` columns, else numeric non-id/label/score ones.

    CSV/TSV columns are text: numeric there means the reader's sample found only numbers.
    """
    types = {f.name: f.dataType for f in df.schema.fields}
    if feature_fields:
        chosen = list(dict.fromkeys(feature_fields))
        for name in chosen:
            if name not in types:
                raise SelectionInputError(
                    f"feature column '{name}' (features=) is not in the input; columns are: "
                    + ", ".join(df.columns)
                )
        source = "features="
    else:
        chosen = [c for c in df.columns if c.startswith(EMBEDDING_PREFIX)]
        source = f"{EMBEDDING_PREFIX}* columns"
        if not chosen:
            skip = {id_col, label_col, *score_cols}
            chosen = [
                c
                for c in df.columns
                if c not in skip and not c.startswith("_") and is_numeric(df.schema[c])
            ]
    for name in chosen:
        if not is_numeric(df.schema[name]):
            raise SelectionInputError(
                f"feature column '{name}' ({source}) is not numeric "
                f"(type {types[name].simpleString()}); features must be numbers"
            )
    if not chosen:
        raise SelectionInputError(
            "no feature columns for diversity/badge: set features= to a list of numeric "
            f"columns, or name them '{EMBEDDING_PREFIX}*'"
        )
    return chosen


def keyed_rows(
    df: DataFrame, id_col: str, features: Sequence[str], seed: int, extra: Sequence[Column] = ()
) -> DataFrame:
    """(key, id, features as doubles, extra...): the only columns that reach Python."""
    return df.select(
        id_hash(df, id_col, seed).alias(KEY),
        F.col(id_col).alias(ID),
        *[F.col(c).cast("double") for c in features],
        *extra,
    )


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


def _finish(ids: np.ndarray, keys: np.ndarray, values: np.ndarray, d: int) -> Block:
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
    return _finish(ids, keys, values, d)


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


def _pieces(block: Block, parts: int) -> Iterator[tuple[int, Block]]:
    """(partition, the rows of `block` its hash sends there); the bad-row count goes to 0."""
    target = (block.keys % np.uint64(parts)).astype(np.int64)
    order = np.argsort(target, kind="stable")
    bounds = np.searchsorted(target[order], np.arange(parts + 1))
    for p in range(parts):
        if bounds[p + 1] > bounds[p]:
            yield p, block.take(order[bounds[p] : bounds[p + 1]])
    if block.bad_rows:
        none = block.take(slice(0, 0))
        yield 0, Block(none.ids, none.keys, none.x, none.p, block.bad_rows, block.bad_example)


def _row_pieces(rows: Iterable[Any], *, d: int, c: int, parts: int) -> Iterator[tuple[int, Block]]:
    """Executor side of the row transfer: pickled rows -> numpy pieces per target partition."""
    for block in iter_blocks(rows, d, c):
        yield from _pieces(block, parts)


def _arrow_pieces(
    batches: Iterable[Any], *, d: int, c: int, parts: int, string_ids: bool
) -> Iterator[Any]:
    """Executor side of the Arrow transfer: the same pieces, one output row each, their arrays
    as raw bytes (and string ids as a list) so that nothing needs unpickling on the way back."""
    import pyarrow as pa  # only on executors where the Arrow transfer was chosen

    def convert(pending: list[Any]) -> Any:
        table = pa.Table.from_batches(pending)
        columns = table.columns
        keys = np.ascontiguousarray(columns[0].to_numpy(), dtype=np.int64).view(np.uint64)
        ids = id_array(columns[1].to_pylist())
        # Nulls arrive as NaN, as they do on the row path: the same rows are counted as bad.
        values = np.column_stack([col.to_numpy() for col in columns[2:]]).astype(np.float64)
        pieces = list(_pieces(_finish(ids, keys, values, d), parts))
        out = [b for _, b in pieces]
        parts_of = [p for p, _ in pieces]
        if string_ids:
            id_column = pa.array([b.ids.tolist() for b in out], pa.list_(pa.string()))
            nulls = pa.nulls(len(out), pa.binary())
        else:
            packed = [_int_ids(b.ids) for b in out]
            id_column = pa.array([v for v, _ in packed], pa.binary())
            nulls = pa.array([m for _, m in packed], pa.binary())
        return pa.RecordBatch.from_arrays(
            [
                pa.array(parts_of, pa.int32()),
                pa.array([b.keys.tobytes() for b in out], pa.binary()),
                id_column,
                nulls,
                pa.array([np.hstack([b.x, b.p]).tobytes() for b in out], pa.binary()),
                pa.array([b.bad_rows for b in out], pa.int64()),
                pa.array([b.bad_example for b in out], pa.string()),
            ],
            names=list(_ARROW_PIECE),
        )

    pending: list[Any] = []
    rows = 0
    for batch in batches:
        pending.append(batch)
        rows += batch.num_rows
        if rows >= CHUNK_ROWS:
            yield convert(pending)
            pending, rows = [], 0
    if pending:
        yield convert(pending)


def _int_ids(ids: np.ndarray) -> tuple[bytes, bytes | None]:
    """Integer ids as int64 bytes, and where the null ids are (None when there is none).

    A null id must reach the driver as None, as on the row path: the job's checks name it.
    """
    if ids.dtype != object:
        return ids.astype(np.int64).tobytes(), None
    values = ids.tolist()
    nulls = np.array([v is None for v in values], dtype=bool)
    return np.array([0 if v is None else v for v in values], np.int64).tobytes(), nulls.tobytes()


# The Arrow transfer's output: one row per piece of a block.
_ARROW_PIECE = (
    "_sel_part",
    "_sel_keys",
    "_sel_ids",
    "_sel_null_ids",
    "_sel_values",
    "_sel_bad",
    "_sel_example",
)


def _arrow_schema(string_ids: bool) -> StructType:
    ids = ArrayType(StringType(), True) if string_ids else BinaryType()
    types = [IntegerType(), BinaryType(), ids, BinaryType(), BinaryType(), LongType(), StringType()]
    return StructType([StructField(n, t) for n, t in zip(_ARROW_PIECE, types, strict=True)])


def _arrow_piece(row: Any, *, d: int, c: int, string_ids: bool) -> tuple[int, Block]:
    part, keys, ids, nulls, values, bad, example = row
    if string_ids:
        ident = id_array(ids)
    elif nulls is None:
        ident = np.frombuffer(ids, dtype=np.int64)
    else:
        missing = np.frombuffer(nulls, dtype=bool).tolist()
        found = np.frombuffer(ids, dtype=np.int64).tolist()
        ident = id_array([None if m else v for v, m in zip(found, missing, strict=True)])
    both = np.frombuffer(values, dtype=np.float64).reshape(-1, d + c)
    x, p = np.ascontiguousarray(both[:, :d]), np.ascontiguousarray(both[:, d:])
    return int(part), Block(ident, np.frombuffer(keys, dtype=np.uint64), x, p, int(bad), example)


def _own_partition(p: int) -> int:
    return p


def _assemble(pieces: Iterable[tuple[int, Block]], *, d: int, c: int) -> Iterator[Block]:
    yield sort_by_key(concat([b for _, b in pieces], d, c))


def hashed_blocks(keyed: DataFrame, d: int, parts: int, c: int = 0) -> tuple[RDD[Block], str]:
    """One block per partition p < parts: the rows of `keyed_rows` whose hash is p mod parts,
    sorted by it; and the transfer that carried them ("rows" or "arrow", see `row_transfer`).

    The rows reach Python once; the shuffle after that moves pickled numpy blocks, not rows.
    """
    transfer = row_transfer(keyed.sparkSession)
    id_type = keyed.schema[ID].dataType
    if transfer == "arrow" and isinstance(id_type, IntegralType | StringType):
        string_ids = isinstance(id_type, StringType)
        task = partial(_arrow_pieces, d=d, c=c, parts=parts, string_ids=string_ids)
        rows = keyed.mapInArrow(task, _arrow_schema(string_ids)).rdd
        pieces = rows.map(partial(_arrow_piece, d=d, c=c, string_ids=string_ids))
    else:
        # Other id types (dates, decimals...) come back from Arrow as other Python objects.
        transfer = "rows"
        pieces = keyed.rdd.mapPartitions(partial(_row_pieces, d=d, c=c, parts=parts))
    shuffled = pieces.partitionBy(parts, _own_partition)
    return shuffled.mapPartitions(partial(_assemble, d=d, c=c)), transfer


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
    cached = cached._reserialize(BatchedSerializer(CPickleSerializer(), 1))
    cached.persist(CACHE_LEVEL)
    cached._jrdd.count()
    found = summaries.value
    if len(found) != cached.getNumPartitions():  # cannot happen unless a task lost its update
        raise RuntimeError(f"{len(found)} of {cached.getNumPartitions()} partition summaries")
    return cached, [found[i] for i in sorted(found)]


def row_transfer(spark: SparkSession) -> str:
    """How rows reach Python: "arrow" (mapInArrow) where pyarrow works on the driver and the
    executors, else "rows" (rdd.mapPartitions); the Spark conf ROW_TRANSFER_CONF (auto, rows or
    arrow) overrides the detection. Both give the same blocks, hence the same selection."""
    choice = str(spark.conf.get(ROW_TRANSFER_CONF, "auto")).strip().lower()
    if choice not in ("auto", "rows", "arrow"):
        raise SelectionInputError(
            f"{ROW_TRANSFER_CONF}={choice!r} is not one of auto, rows, arrow; unset it or pick one"
        )
    if choice == "rows":
        return "rows"
    usable = arrow_usable(spark)
    if choice == "arrow" and not usable:
        raise SelectionInputError(
            f"{ROW_TRANSFER_CONF}=arrow, but pyarrow (and pandas on the driver) cannot be "
            "imported on the driver and the executors; install them or set it to auto or rows"
        )
    return "arrow" if usable else "rows"


_ARROW_USABLE: dict[str, bool] = {}  # application id -> whether mapInArrow can run


def arrow_usable(spark: SparkSession) -> bool:
    """Whether mapInArrow can run: checked once per application, on the driver and executors."""
    sc = spark.sparkContext
    app = str(sc.applicationId)
    if app not in _ARROW_USABLE:
        _ARROW_USABLE[app] = _arrow_on_driver() and _arrow_on_executors(sc)
    return _ARROW_USABLE[app]


def _arrow_on_driver() -> bool:
    # mapInArrow builds a pandas_udf, which PySpark allows only with pandas and pyarrow here.
    try:
        from pyspark.sql.pandas.utils import (
            require_minimum_pandas_version,
            require_minimum_pyarrow_version,
        )

        require_minimum_pandas_version()
        require_minimum_pyarrow_version()
    except Exception:  # missing, too old or broken: any of them rules the transfer out
        return False
    return True


def _arrow_on_executors(sc: SparkContext) -> bool:
    # One task per core of the default parallelism: in a cluster, more than one executor's image.
    tasks = max(1, int(sc.defaultParallelism))
    try:
        return all(sc.parallelize(range(tasks), tasks).map(_pyarrow_importable).collect())
    except Exception:  # a probe that cannot run says nothing good about the executors
        return False


def _pyarrow_importable(_: int) -> bool:
    try:
        importlib.import_module("pyarrow")
    except Exception:
        return False
    return True


def partition_count(df: DataFrame) -> int:
    """P for the hash shuffle: from the input's size, not from its splits or the cores.

    The groups, hence the picks, depend on P; deriving it from the bytes of the input files
    (Spark's plan statistics, no job) keeps a seed's selection the same across split sizes,
    file counts and cluster sizes. Inputs without file statistics fall back to their partitions.
    """
    try:
        size = int(str(df._jdf.queryExecution().optimizedPlan().stats().sizeInBytes()))
    except Exception:  # statistics are an internal API: never fail a selection over them
        size = -1
    if 0 <= size < 2**62:  # an unknown size is reported as Long.MaxValue
        # Small inputs get fewer partitions: every task costs a Python worker's start-up.
        few = min(MIN_PARTITIONS, math.ceil(size / SMALL_PARTITION_BYTES))
        return max(1, few, math.ceil(size / PARTITION_BYTES))
    return max(MIN_PARTITIONS, df.rdd.getNumPartitions())


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to norm 1 (cosine metric); all-zero rows stay zero."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    scaled: np.ndarray = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    return scaled


def prepare_features(x: np.ndarray, metric: Metric | str) -> np.ndarray:
    return unit_rows(x) if Metric(metric) is Metric.COSINE else x


def error_bound(d: int, sq_rows: Any, sq_centres: float) -> Any:
    """Bound on the float32 error of |x - c|^2 = |x|^2 - 2 x.c + |c|^2 for |x|^2 <= sq_rows and
    |c|^2 <= sq_centres (after the shift both kernels apply).

    Rounding the inputs to float32, the norms and the (d + 2)-term dot product each lose a few
    units of 2^-24 of |x|^2 + |c|^2, about (3d + 8) units in all; this is twice that.
    """
    return 4.0 * (d + 4) * EPS32 * (sq_rows + sq_centres)


def shifted32(x: np.ndarray, shift: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x - shift in float32 and its squared norms (float64): the operands of the fast kernels.

    Shifting to the data's middle keeps the expanded form accurate for data far from 0.
    """
    s = x - shift
    return s.astype(np.float32), np.einsum("ij,ij->i", s, s)


def tile_rows(centres: int) -> int:
    """Rows per (rows x centres) float32 distance tile, so a tile stays in one core's cache."""
    return max(16, TILE // max(1, centres))


@dataclass(frozen=True)
class Centres32:
    """Centres prepared once for the float32 kernels: shifted to their mean, as a (d, k)
    matrix times -2 and with their squared norms; the float64 originals for exact distances."""

    exact: np.ndarray  # (k, d) float64
    shift: np.ndarray  # (d,) float64
    minus2: np.ndarray  # (d, k) float32
    sq: np.ndarray  # (k,) float32
    max_sq: float

    @staticmethod
    def of(centres: np.ndarray) -> Centres32:
        shift = centres.mean(axis=0) if len(centres) else np.zeros(centres.shape[1])
        c32, sq = shifted32(centres, shift)
        minus2 = np.ascontiguousarray((c32 * np.float32(-2.0)).T)
        return Centres32(centres, shift, minus2, sq.astype(np.float32), float(sq.max(initial=0)))

    def __len__(self) -> int:
        return len(self.exact)


def _tiles(
    x: np.ndarray, centres: Centres32, step: int | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, tile): float32 |c - shift|^2 - 2 (x - shift).c for consecutive rows of x,
    the squared distances to every centre but for |x - shift|^2. The tile buffer is reused."""
    k = len(centres)
    step = min(step or tile_rows(k), max(1, len(x)))
    x32 = (x - centres.shift).astype(np.float32)
    buffer = np.empty((step, k), dtype=np.float32)
    for s in range(0, len(x), step):
        n = min(step, len(x) - s)
        tile = buffer[:n]
        np.matmul(x32[s : s + n], centres.minus2, out=tile)
        tile += centres.sq
        yield s, tile


def nearest_sq_dist(
    x: np.ndarray, centres: np.ndarray | Centres32, chunk: int | None = None
) -> np.ndarray:
    """Squared Euclidean distance from each row of x to its nearest centre, in float64.

    The nearest centre is found with float32 matrix products; the distance to it is recomputed
    from the float64 difference. Rows whose two nearest centres float32 cannot tell apart are
    measured against every centre in float64.
    """
    out = np.full(len(x), np.inf)
    if len(centres) == 0 or len(x) == 0:
        return out
    prepared = centres if isinstance(centres, Centres32) else Centres32.of(centres)
    exact = prepared.exact
    sq = np.einsum("ij,ij->i", x - prepared.shift, x - prepared.shift)
    tol = 2.0 * error_bound(x.shape[1], sq, prepared.max_sq)
    for s, tile in _tiles(x, prepared, chunk):
        n = len(tile)
        near = np.argmin(tile, axis=1)
        diff = x[s : s + n] - exact[near]
        out[s : s + n] = np.einsum("ij,ij->i", diff, diff)
        if len(exact) > 1:
            rows = np.arange(n)
            first = tile[rows, near]
            tile[rows, near] = np.inf
            unsure = np.flatnonzero(tile.min(axis=1) - first <= tol[s : s + n])
            if len(unsure):
                out[s + unsure] = _nearest_sq_dist64(x[s + unsure], exact)
    return out


def _nearest_sq_dist64(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """`nearest_sq_dist` all in float64: for the rows float32 cannot decide."""
    out = np.empty(len(x))
    shift = centres.mean(axis=0)
    shifted = centres - shift
    c_sq = np.einsum("ij,ij->i", shifted, shifted)
    step = max(1, TILE // len(centres))
    for start in range(0, len(x), step):
        part = x[start : start + step]
        approx = c_sq[None, :] - 2.0 * ((part - shift) @ shifted.T)
        diff = part - centres[np.argmin(approx, axis=1)]
        out[start : start + step] = np.einsum("ij,ij->i", diff, diff)
    return out


def max_nearest_sq_dist(x: np.ndarray, centres: np.ndarray | Centres32) -> float:
    """max over rows of x of the squared distance to the nearest centre, exact in float64.

    float32 tiles give every row's distance within `error_bound`; only the rows that could
    hold the maximum are measured again in float64.
    """
    if len(x) == 0:
        return 0.0
    if len(centres) == 0:
        return math.inf
    prepared = centres if isinstance(centres, Centres32) else Centres32.of(centres)
    approx = np.empty(len(x))
    for s, tile in _tiles(x, prepared):
        approx[s : s + len(tile)] = tile.min(axis=1)
    sq = np.einsum("ij,ij->i", x - prepared.shift, x - prepared.shift)
    approx += sq
    tol = error_bound(x.shape[1], float(sq.max()), prepared.max_sq)
    contenders = np.flatnonzero(approx >= approx.max() - 2.0 * tol)
    return float(nearest_sq_dist(x[contenders], prepared).max())


def raise_on_bad_rows(
    bad_rows: int, example: str | None, columns: Sequence[str], what: str
) -> None:
    """The same wording as the job's data checks, which would report these rows after the fact."""
    if bad_rows:
        raise SelectionInputError(
            f"{bad_rows} row(s) have a null, NaN or infinite value in the {what} "
            f"{', '.join(columns)}, e.g. id {example!r}"
        )


def fetch_selected(
    df: DataFrame,
    id_col: str,
    picked_ids: Sequence[Any],
    *,
    mode: UncertaintyMode | str,
    scores: ScoreSpec,
) -> DataFrame:
    """The full rows of `picked_ids` (in pick order), with the active-learning output columns.

    One filtered scan of `df`; `orderBy().limit()` ranks the few rows in one task, where a
    plain `orderBy` would run a sampling job over the whole input first.
    """
    if not picked_ids:
        # Still a scan, not limit(0) that the optimizer turns into no scan: metrics observed on
        # `df` (the job's data checks) are reported only when a query reads it.
        empty = df.filter(F.rand(0) < F.lit(-1.0))
        return empty.select(
            *df.columns,
            F.lit(None).cast("double").alias(UNCERTAINTY_SCORE),
            F.lit(DATA_SOURCE_AL).alias(DATA_SOURCE),
            F.lit(None).cast("long").alias(SELECTION_RANK),
        )
    # A broadcast join with the (id, rank) pairs rather than isin/map literals, whose expression
    # trees grow with the batch size.
    schema = StructType(
        [StructField(PICK, df.schema[id_col].dataType), StructField(SELECTION_RANK, LongType())]
    )
    ranks = df.sparkSession.createDataFrame(
        [(v, rank) for rank, v in enumerate(picked_ids, start=1)], schema
    )
    picked = df.join(F.broadcast(ranks), F.col(id_col) == F.col(PICK)).drop(PICK)
    picked = picked.orderBy(F.col(SELECTION_RANK), F.col(id_col)).limit(len(picked_ids))
    out = picked.withColumn(UNCERTAINTY_SCORE, uncertainty(mode, scores.probabilities(picked)))
    out = out.withColumn(DATA_SOURCE, F.lit(DATA_SOURCE_AL))
    return out.select(*df.columns, UNCERTAINTY_SCORE, DATA_SOURCE, SELECTION_RANK)


def exclude_labeled(df: DataFrame, labeled: DataFrame | None, id_col: str) -> DataFrame:
    """`df` without the rows whose id is in `labeled`."""
    if labeled is None:
        return df
    if id_col not in labeled.columns:
        raise SelectionInputError(f"labeled data has no id column '{id_col}'")
    # A join condition rather than `on=id_col`, which would move the id to the first column.
    known = labeled.select(F.col(id_col).alias("_sel_labeled_id")).distinct()
    return df.join(known, F.col(id_col) == F.col("_sel_labeled_id"), how="left_anti")


def as_float(value: float) -> float | None:
    """A JSON-safe float for the metadata (None for NaN/inf)."""
    return float(value) if np.isfinite(value) else None
