"""Feature columns of the embedding strategies and the rows <-> numpy plumbing they share.

Executors turn their rows into numpy blocks through `rdd.mapPartitions`: the SageMaker image has
no pyarrow, so pandas UDFs and mapInPandas are not an option. Only numpy is used on executors.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StructField, StructType

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


@dataclass
class Block:
    """Rows of one partition (or chunk): ids, hash keys, features x and optional values p."""

    ids: list[Any]
    keys: np.ndarray  # uint64
    x: np.ndarray  # (m, d) float64
    p: np.ndarray  # (m, c) float64; c = 0 when unused
    bad_rows: int = 0
    bad_example: str | None = None

    def __len__(self) -> int:
        return len(self.ids)


def _chunk_to_block(rows: list[Any], d: int, c: int) -> Block:
    ids = [r[1] for r in rows]
    keys = np.array([r[0] for r in rows], dtype=np.int64).view(np.uint64)
    # dtype float64 turns None into NaN, so nulls are caught with NaN and inf below.
    values = np.array([r[2 : 2 + d + c] for r in rows], dtype=np.float64).reshape(len(rows), d + c)
    good = np.asarray(np.isfinite(values).all(axis=1))
    bad_rows = int(len(rows) - good.sum())
    example = min(str(ids[i]) for i in np.flatnonzero(~good)) if bad_rows else None
    if bad_rows:
        ids = [ids[i] for i in np.flatnonzero(good)]
        keys, values = keys[good], values[good]
    return Block(ids, keys, values[:, :d], values[:, d:], bad_rows, example)


def concat(blocks: Sequence[Block], d: int, c: int = 0) -> Block:
    """One block from many; bad-row counts add up, the smallest example id is kept."""
    if not blocks:
        return Block([], np.empty(0, np.uint64), np.empty((0, d)), np.empty((0, c)))
    if len(blocks) == 1:
        return blocks[0]
    examples = [b.bad_example for b in blocks if b.bad_example is not None]
    return Block(
        [i for b in blocks for i in b.ids],
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


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to norm 1 (cosine metric); all-zero rows stay zero."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    scaled: np.ndarray = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    return scaled


def prepare_features(x: np.ndarray, metric: Metric | str) -> np.ndarray:
    return unit_rows(x) if Metric(metric) is Metric.COSINE else x


def nearest_sq_dist(x: np.ndarray, centres: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Squared Euclidean distance from each row of x to its nearest centre.

    The nearest centre is found with one matrix product, then its distance is recomputed from
    the difference: the expanded form loses small distances to cancellation.
    """
    out = np.full(len(x), np.inf)
    if len(centres) == 0 or len(x) == 0:
        return out
    # Shifting to the centres' mean keeps the expanded form accurate for data far from 0.
    shift = centres.mean(axis=0)
    shifted = centres - shift
    c_sq = np.einsum("ij,ij->i", shifted, shifted)
    for start in range(0, len(x), chunk):
        part = x[start : start + chunk]
        approx = c_sq[None, :] - 2.0 * ((part - shift) @ shifted.T)
        diff = part - centres[np.argmin(approx, axis=1)]
        out[start : start + chunk] = np.einsum("ij,ij->i", diff, diff)
    return out


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
