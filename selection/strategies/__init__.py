"""The strategies, one module per family, and `select`: a parameter object -> its selection.

Adding a strategy: its parameter class and transform in a module here, one arm in `select`,
its name in `selection.names.Strategy`; `PARAMS_BY_STRATEGY` and the job's variables follow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TypeVar, assert_never

from pyspark.sql import DataFrame, Observation

from selection.engine.blocks import exclude_labeled, resolve_feature_columns
from selection.names import Strategy
from selection.params import EmbeddingParams
from selection.strategies.badge import Badge, select_badge
from selection.strategies.diversity import Diversity, select_diversity
from selection.strategies.pseudo_labels import (
    ConfidenceThreshold,
    TopKPerClass,
    select_confidence_threshold,
    select_top_k_per_class,
)
from selection.strategies.result import Selected
from selection.strategies.uncertainty import Uncertainty, select_uncertainty

AnyStrategy = ConfidenceThreshold | TopKPerClass | Uncertainty | Diversity | Badge
PARAMS_BY_STRATEGY: dict[Strategy, type[AnyStrategy]] = {
    cls.strategy: cls for cls in (ConfidenceThreshold, TopKPerClass, Uncertainty, Diversity, Badge)
}
P = TypeVar("P", bound=EmbeddingParams)


def with_features(params: P, df: DataFrame, *, label_col: str = "") -> P:
    """`params` with its feature columns resolved against `df` (and checked to be numeric)."""
    features = resolve_feature_columns(
        df,
        params.features,
        id_col=params.id_col,
        label_col=label_col,
        score_cols=params.scores.columns(df),
    )
    return replace(params, features=tuple(features))


def select(
    df: DataFrame,
    params: AnyStrategy,
    *,
    labeled: DataFrame | None = None,
    class_thresholds: Sequence[float | None] | None = None,
    kept_per_class: Observation | None = None,
) -> Selected:
    """Run the strategy `params` describes on `df`; rows whose id is in `labeled` are never chosen.

    diversity and BADGE also read `labeled` (its rows are centres already); the others only
    leave its ids out. confidence_threshold reads `class_thresholds` (from
    `fit_class_thresholds`) and, when given, counts the rows each class keeps before its caps
    into `kept_per_class`.
    """
    match params:
        case ConfidenceThreshold():
            pool = _pool(df, params, labeled)
            return Selected(
                select_confidence_threshold(pool, params, class_thresholds, kept_per_class)
            )
        case TopKPerClass():
            return Selected(select_top_k_per_class(_pool(df, params, labeled), params))
        case Uncertainty():
            return Selected(select_uncertainty(_pool(df, params, labeled), params))
        case Diversity():
            params = params if params.features else with_features(params, df)
            return select_diversity(
                df,
                params.batch_size,
                id_col=params.id_col,
                features=params.features,
                metric=params.metric,
                seed=params.seed,
                mode=params.mode,
                scores=params.scores,
                labeled=labeled,
            )
        case Badge():
            params = params if params.features else with_features(params, df)
            return select_badge(
                df,
                params.batch_size,
                id_col=params.id_col,
                features=params.features,
                metric=params.metric,
                seed=params.seed,
                rounds=params.rounds,
                mode=params.mode,
                scores=params.scores,
                labeled=labeled,
            )
        case _:
            assert_never(params)


def _pool(df: DataFrame, params: AnyStrategy, labeled: DataFrame | None) -> DataFrame:
    return exclude_labeled(df, labeled, params.id_col)


__all__ = [
    "PARAMS_BY_STRATEGY",
    "AnyStrategy",
    "Badge",
    "ConfidenceThreshold",
    "Diversity",
    "Selected",
    "TopKPerClass",
    "Uncertainty",
    "select",
    "with_features",
]
