"""Uncertainty sampling: the rows the model is least sure about, for human labelling."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from selection.engine.balance import balanced_top_n
from selection.engine.ranking import rank_top_n, rank_top_n_by_score
from selection.engine.scores import ScoreSpec, pseudo_label, uncertainty_of
from selection.engine.values import ascending_id
from selection.names import (
    DATA_SOURCE,
    DATA_SOURCE_AL,
    SELECTION_RANK,
    UNCERTAINTY_SCORE,
    Strategy,
    UncertaintyMode,
)
from selection.params import BalancedBatchParams, as_enum
from selection.strategies.result import Selected, StrategySummary, Transform


@dataclass(frozen=True, kw_only=True)
class Uncertainty(BalancedBatchParams):
    """The `batch_size` rows with the highest uncertainty score (`mode`), ties by ascending id;
    with `class_balance`, split evenly over the predicted classes."""

    strategy = Strategy.UNCERTAINTY


def with_uncertainty(
    mode: UncertaintyMode | str = Uncertainty.mode, scores: ScoreSpec = Uncertainty.scores
) -> Transform:
    """Add `uncertainty_score` (higher = less certain): margin, entropy, least_confidence, or
    for a committee (`ScoreSpec.members`) bald, vote_entropy, mean_std."""

    def transform(df: DataFrame) -> DataFrame:
        return df.withColumn(UNCERTAINTY_SCORE, uncertainty_of(df, mode, scores))

    return transform


def uncertainty(
    batch_size: int = Uncertainty.batch_size,
    mode: UncertaintyMode | str = Uncertainty.mode,
    *,
    id_col: str = Uncertainty.id_col,
    scores: ScoreSpec = Uncertainty.scores,
    class_balance: bool = Uncertainty.class_balance,
) -> Transform:
    """The `batch_size` rows with the highest uncertainty score, ties broken by ascending id.

    With `class_balance` the batch is split evenly over the predicted classes, and the
    transform runs one Spark job when applied (the per-class counts).
    """
    params = Uncertainty(
        batch_size=batch_size,
        mode=as_enum(UncertaintyMode, "mode", mode),
        id_col=id_col,
        scores=scores,
        class_balance=class_balance,
    )
    return lambda df: select_uncertainty(df, params).rows


@dataclass(frozen=True)
class BatchSummary(StrategySummary):
    """A one-scan batch's figures: with CLASS_BALANCE, the pool and the quota of each class."""

    class_balance: dict[str, Any] | None = None

    def metadata(self) -> dict[str, Any]:
        return {} if self.class_balance is None else {"class_balance": self.class_balance}


def ranked_batch(
    df: DataFrame, order: list[Column], params: BalancedBatchParams, score: Column | None = None
) -> tuple[DataFrame, dict[str, Any] | None]:
    """The first BATCH_SIZE rows of `df` in `order`, ranked; with CLASS_BALANCE split over the
    predicted classes, and then also the quotas' figures. When `order` begins with `score`
    descending, a large batch is cut from the score's histogram."""
    if not params.class_balance:
        if score is not None:
            return rank_top_n_by_score(df, order, params.batch_size, score), None
        return rank_top_n(df, order, params.batch_size), None
    predicted = pseudo_label(params.scores.probabilities(df))
    ranked, quotas = balanced_top_n(df, order, params.batch_size, predicted)
    return ranked, quotas.to_json()


def select_uncertainty(df: DataFrame, params: Uncertainty) -> Selected[BatchSummary]:
    scored = df.transform(with_uncertainty(params.mode, params.scores))
    order = [F.col(UNCERTAINTY_SCORE).desc(), *ascending_id(df, params.id_col)]
    ranked, balance = ranked_batch(scored, order, params, F.col(UNCERTAINTY_SCORE))
    out = ranked.withColumn(DATA_SOURCE, F.lit(DATA_SOURCE_AL))
    rows = out.select(*df.columns, UNCERTAINTY_SCORE, DATA_SOURCE, SELECTION_RANK)
    return Selected(rows, BatchSummary(class_balance=balance))
