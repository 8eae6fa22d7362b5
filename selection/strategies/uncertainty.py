"""Uncertainty sampling: the rows the model is least sure about, for human labelling."""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from selection.engine.ranking import rank_top_n
from selection.engine.scores import ScoreSpec
from selection.engine.scores import uncertainty as uncertainty_score
from selection.engine.values import ascending_id
from selection.names import (
    DATA_SOURCE,
    DATA_SOURCE_AL,
    SELECTION_RANK,
    UNCERTAINTY_SCORE,
    Strategy,
    UncertaintyMode,
)
from selection.params import ActiveLearningParams, as_enum
from selection.strategies.result import Transform


@dataclass(frozen=True, kw_only=True)
class Uncertainty(ActiveLearningParams):
    """The `batch_size` rows with the highest uncertainty score (`mode`), ties by ascending id."""

    strategy = Strategy.UNCERTAINTY


def with_uncertainty(
    mode: UncertaintyMode | str = Uncertainty.mode, scores: ScoreSpec = Uncertainty.scores
) -> Transform:
    """Add `uncertainty_score` (margin, entropy or least_confidence; higher = less certain)."""

    def transform(df: DataFrame) -> DataFrame:
        return df.withColumn(UNCERTAINTY_SCORE, uncertainty_score(mode, scores.probabilities(df)))

    return transform


def uncertainty(
    batch_size: int = Uncertainty.batch_size,
    mode: UncertaintyMode | str = Uncertainty.mode,
    *,
    id_col: str = Uncertainty.id_col,
    scores: ScoreSpec = Uncertainty.scores,
) -> Transform:
    """The `batch_size` rows with the highest uncertainty score, ties broken by ascending id."""
    params = Uncertainty(
        batch_size=batch_size,
        mode=as_enum(UncertaintyMode, "mode", mode),
        id_col=id_col,
        scores=scores,
    )
    return lambda df: select_uncertainty(df, params)


def select_uncertainty(df: DataFrame, params: Uncertainty) -> DataFrame:
    scored = df.transform(with_uncertainty(params.mode, params.scores))
    order = [F.col(UNCERTAINTY_SCORE).desc(), *ascending_id(df, params.id_col)]
    ranked = rank_top_n(scored, order, params.batch_size)
    out = ranked.withColumn(DATA_SOURCE, F.lit(DATA_SOURCE_AL))
    return out.select(*df.columns, UNCERTAINTY_SCORE, DATA_SOURCE, SELECTION_RANK)
