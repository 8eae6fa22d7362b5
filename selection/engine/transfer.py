"""Rows into Python once, as numpy blocks grouped by their seeded hash.

Executors turn rows into numpy blocks through `rdd.mapPartitions` over rows (the SageMaker image
has no pyarrow) or, where pyarrow works on the driver and on the executors, through
`mapInArrow`, which moves rows several times faster; the Spark conf ROW_TRANSFER_CONF picks one.
A Python-side shuffle of those blocks then sends every row to the partition its seeded hash
names, and each partition sorts its rows by that hash. What a partition holds, in which order,
then depends only on the rows and the seed: not on the input's files or splits, nor on the
transfer that carried them.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Iterable, Iterator, Sequence
from functools import partial
from typing import Any

import numpy as np
from pyspark import RDD, SparkContext
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

from selection.engine.blocks import (
    CHUNK_ROWS,
    ID,
    KEY,
    Block,
    concat,
    finish_block,
    id_array,
    iter_blocks,
    sort_by_key,
)
from selection.engine.values import id_hash
from selection.errors import SelectionInputError

# Spark conf naming the row transfer: auto (the default), rows or arrow; see `row_transfer`.
ROW_TRANSFER_CONF = "spark.selection.rowTransfer"
# P, the partitions of the hash shuffle: one per 16 MB of input, so a partition (which a Python
# worker holds whole to sort it) stays near 60k rows at any input size; at least 16 once the
# input has 16 * 4 MB, so two cores get balanced work, fewer below (a task costs a worker).
MIN_PARTITIONS = 16
PARTITION_BYTES = 16 * 1024**2
SMALL_PARTITION_BYTES = 4 * 1024**2


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
        pieces = list(_pieces(finish_block(ids, keys, values, d), parts))
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
