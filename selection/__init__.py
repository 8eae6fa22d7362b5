"""Choose which rows of a large prediction set are worth labelling or pseudo-labelling.

Each strategy has a frozen parameter class (`Uncertainty(batch_size=1000)`) and a transform
factory with the same parameters (`df.transform(uncertainty(batch_size=1000))`);
`select(df, params)` runs the strategy a parameter object describes.
"""

from selection.engine.scores import ScoreSpec
from selection.errors import (
    SelectionConfigError,
    SelectionError,
    SelectionInputError,
    SelectionOutputError,
    SelectionParamError,
)
from selection.names import (
    CONFIDENCE,
    DATA_SOURCE,
    PSEUDO_LABEL,
    SELECTION_RANK,
    UNCERTAINTY_SCORE,
    Metric,
    Strategy,
    UncertaintyMode,
    UseCase,
)
from selection.params import StrategyParams
from selection.strategies import (
    PARAMS_BY_STRATEGY,
    AnyStrategy,
    Badge,
    BadgeSummary,
    ClusterMargin,
    ConfidenceThreshold,
    Diversity,
    DiversitySummary,
    Random,
    Selected,
    StrategySummary,
    TopKPerClass,
    Uncertainty,
    select,
)
from selection.strategies.badge import badge, select_badge
from selection.strategies.calibration import TemperatureFit, fit_temperature
from selection.strategies.cluster_margin import select_cluster_margin
from selection.strategies.diversity import diversity, select_diversity
from selection.strategies.pseudo_labels import (
    confidence_threshold,
    top_k_per_class,
    with_pseudo_labels,
)
from selection.strategies.random_batch import random_batch, select_random
from selection.strategies.result import Transform
from selection.strategies.thresholds import ClassThresholds, fit_class_thresholds
from selection.strategies.uncertainty import uncertainty, with_uncertainty

__all__ = [
    "CONFIDENCE",
    "DATA_SOURCE",
    "PARAMS_BY_STRATEGY",
    "PSEUDO_LABEL",
    "SELECTION_RANK",
    "UNCERTAINTY_SCORE",
    "AnyStrategy",
    "Badge",
    "BadgeSummary",
    "ClassThresholds",
    "ClusterMargin",
    "ConfidenceThreshold",
    "Diversity",
    "DiversitySummary",
    "Metric",
    "Random",
    "ScoreSpec",
    "Selected",
    "SelectionConfigError",
    "SelectionError",
    "SelectionInputError",
    "SelectionOutputError",
    "SelectionParamError",
    "Strategy",
    "StrategyParams",
    "StrategySummary",
    "TemperatureFit",
    "TopKPerClass",
    "Transform",
    "Uncertainty",
    "UncertaintyMode",
    "UseCase",
    "badge",
    "confidence_threshold",
    "diversity",
    "fit_class_thresholds",
    "fit_temperature",
    "random_batch",
    "select",
    "select_badge",
    "select_cluster_margin",
    "select_diversity",
    "select_random",
    "top_k_per_class",
    "uncertainty",
    "with_pseudo_labels",
    "with_uncertainty",
]
