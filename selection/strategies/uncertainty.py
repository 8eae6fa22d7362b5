"""Uncertainty sampling: the rows the model is least sure about, for human labelling."""

from __future__ import annotations

from collections.abc import Callable

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
    UncertaintyMode,
)

Transform = Callable[[DataFrame], DataFrame]


def with_uncertainty(
    mode: UncertaintyMode | str = UncertaintyMode.MARGIN, scores: ScoreSpec = ScoreSpec()
) -> Transform:
    """Add `uncertainty_score` (margin, entropy or least_confidence; higher = less certain)."""

    def transform(df: DataFrame) -> DataFrame:
        return df.withColumn(UNCERTAINTY_SCORE, uncertainty_score(mode, scores.probabilities(df)))

    return transform


def uncertainty(
    batch_size: int = 32,
    mode: UncertaintyMode | str = UncertaintyMode.MARGIN,
    *,
    id_col: str = "id",
    scores: ScoreSpec = ScoreSpec(),
) -> Transform:
    """The `batch_size` rows with the highest uncertainty score, ties broken by ascending id."""

    def transform(df: DataFrame) -> DataFrame:
        scored = df.transform(with_uncertainty(mode, scores))
        order = [F.col(UNCERTAINTY_SCORE).desc(), *ascending_id(df, id_col)]
        ranked = rank_top_n(scored, order, batch_size)
        out = ranked.withColumn(DATA_SOURCE, F.lit(DATA_SOURCE_AL))
        added = [UNCERTAINTY_SCORE, DATA_SOURCE, SELECTION_RANK]
        return out.select(*df.columns, *added)

    return transform
