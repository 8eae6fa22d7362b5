"""The strategies, one module per family, and `select`: a parameter object -> its selection.

Adding a strategy: its parameter class and transform in a module here, one arm in `select`,
its name in `selection.names.Strategy`; `PARAMS_BY_STRATEGY` and the job's variables follow.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import assert_never

from pyspark.sql import DataFrame, Observation

from selection.engine.frames import exclude_labeled, with_features
from selection.names import Strategy
from selection.strategies.badge import Badge, BadgeSummary, select_badge
from selection.strategies.cluster_margin import ClusterMargin, select_cluster_margin
from selection.strategies.diversity import Diversity, DiversitySummary, select_diversity
from selection.strategies.pseudo_labels import (
    ConfidenceThreshold,
    TopKPerClass,
    select_confidence_threshold,
    select_top_k_per_class,
)
from selection.strategies.random_batch import Random, select_random
from selection.strategies.result import Selected, StrategySummary
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


def select(
    df: DataFrame,
    params: AnyStrategy,
    *,
    labeled: DataFrame | None = None,
    class_thresholds: Sequence[float | None] | None = None,
    kept_per_class: Observation | None = None,
) -> Selected[StrategySummary]:
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
            return select_uncertainty(_pool(df, params, labeled), params)
        case Random():
            return select_random(_pool(df, params, labeled), params)
        case ClusterMargin():
            params = with_features(params, df)
            return select_cluster_margin(_pool(df, params, labeled), params)
        case Diversity():
            return select_diversity(df, params, labeled=labeled)
        case Badge():
            return select_badge(df, params, labeled=labeled)
        case _:
            assert_never(params)


def _pool(df: DataFrame, params: AnyStrategy, labeled: DataFrame | None) -> DataFrame:
    return exclude_labeled(df, labeled, params.id_col)


__all__ = [
    "PARAMS_BY_STRATEGY",
    "AnyStrategy",
    "Badge",
    "BadgeSummary",
    "ClusterMargin",
    "ConfidenceThreshold",
    "Diversity",
    "DiversitySummary",
    "Random",
    "Selected",
    "StrategySummary",
    "TopKPerClass",
    "Uncertainty",
    "select",
    "with_features",
]
