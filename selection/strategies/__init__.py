"""The strategies, one module per family, and `select`: a parameter object -> its selection.

Adding a strategy: its parameter class and transform in a module here, one arm in `select`,
its name in `selection.names.Strategy`; `PARAMS_BY_STRATEGY` and the job's variables follow.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TypeVar, assert_never

from pyspark.sql import DataFrame

from selection.engine.blocks import exclude_labeled, resolve_feature_columns
from selection.errors import SelectionConfigError
from selection.names import COMMITTEE_MODES, Strategy
from selection.params import EmbeddingParams
from selection.strategies.badge import Badge, select_badge
from selection.strategies.cluster_margin import ClusterMargin, select_cluster_margin
from selection.strategies.diversity import Diversity, select_diversity
from selection.strategies.pseudo_labels import (
    ConfidenceThreshold,
    TopKPerClass,
    select_confidence_threshold,
    select_top_k_per_class,
)
from selection.strategies.random_batch import Random, select_random
from selection.strategies.result import Selected
from selection.strategies.uncertainty import Uncertainty, select_uncertainty

AnyStrategy = (
    ConfidenceThreshold | TopKPerClass | Uncertainty | Diversity | Badge | Random | ClusterMargin
)
PARAMS_BY_STRATEGY: dict[Strategy, type[AnyStrategy]] = {
    cls.strategy: cls
    for cls in (
        ConfidenceThreshold,
        TopKPerClass,
        Uncertainty,
        Diversity,
        Badge,
        Random,
        ClusterMargin,
    )
}
P = TypeVar("P", bound=EmbeddingParams)


def with_features(params: P, df: DataFrame, *, label_col: str = "") -> P:
    """`params` with its feature columns resolved against `df` (and checked to be numeric)."""
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


def select(df: DataFrame, params: AnyStrategy, *, labeled: DataFrame | None = None) -> Selected:
    """Run the strategy `params` describes on `df`; rows whose id is in `labeled` are never chosen.

    diversity and BADGE also read `labeled` (its rows are centres already); the others only
    leave its ids out.
    """
    match params:
        case ConfidenceThreshold():
            return Selected(select_confidence_threshold(_pool(df, params, labeled), params))
        case TopKPerClass():
            return Selected(select_top_k_per_class(_pool(df, params, labeled), params))
        case Uncertainty():
            return select_uncertainty(_pool(df, params, labeled), params)
        case Random():
            return select_random(_pool(df, params, labeled), params)
        case ClusterMargin():
            params = with_features(params, df)
            return select_cluster_margin(_pool(df, params, labeled), params)
        case Diversity():
            params = with_features(params, df)
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
            params = with_features(params, df)
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
    "ClusterMargin",
    "ConfidenceThreshold",
    "Diversity",
    "Random",
    "Selected",
    "TopKPerClass",
    "Uncertainty",
    "select",
    "with_features",
]
