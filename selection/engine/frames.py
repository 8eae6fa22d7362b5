"""The DataFrame side of the embedding strategies: which columns are the features, the pool
without the labelled rows, and the chosen rows fetched back with the output columns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, TypeVar

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StructField, StructType

from selection.engine.scores import ScoreSpec, uncertainty
from selection.engine.values import is_numeric
from selection.errors import SelectionConfigError, SelectionInputError
from selection.names import (
    COMMITTEE_MODES,
    DATA_SOURCE,
    DATA_SOURCE_AL,
    EMBEDDING_PREFIX,
    SELECTION_RANK,
    UNCERTAINTY_SCORE,
    UncertaintyMode,
)
from selection.params import EmbeddingParams

PICK = "_sel_pick"
P = TypeVar("P", bound=EmbeddingParams)


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


def with_features(params: P, df: DataFrame, *, label_col: str = "") -> P:
    """`params` with its feature columns resolved against `df` (and checked to be numeric);
    a committee's member columns are scores, never features."""
    if params.mode in COMMITTEE_MODES:
        raise SelectionConfigError(
            f"UNCERTAINTY_MODE (mode) {params.mode.value} scores a committee, which "
            f"{params.strategy.value} does not read: use margin, entropy or least_confidence, "
            "or the uncertainty or random strategy"
        )
    committee = params.scores.committee(df)
    features = resolve_feature_columns(
        df,
        params.features,
        id_col=params.id_col,
        label_col=label_col,
        score_cols=[*params.scores.columns(df), *(committee.names if committee else [])],
    )
    return replace(params, features=tuple(features))


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
