"""Choose which rows of a large prediction set are worth labelling or pseudo-labelling.

Each strategy is a factory returning a `DataFrame -> DataFrame` transform, so it composes with
`df.transform(...)`; `select(df, params)` runs the one a `SelectionParams` names.
"""

from selection.engine.scores import ScoreSpec
from selection.errors import (
    OutputExistsError,
    SelectionConfigError,
    SelectionError,
    SelectionInputError,
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
from selection.params import SelectionParams
from selection.strategies import select
from selection.strategies.badge import badge, select_badge
from selection.strategies.diversity import diversity, select_diversity
from selection.strategies.pseudo_labels import (
    confidence_threshold,
    top_k_per_class,
    with_pseudo_labels,
)
from selection.strategies.result import Selected
from selection.strategies.uncertainty import uncertainty, with_uncertainty

__all__ = [
    "CONFIDENCE",
    "DATA_SOURCE",
    "PSEUDO_LABEL",
    "SELECTION_RANK",
    "UNCERTAINTY_SCORE",
    "Metric",
    "OutputExistsError",
    "ScoreSpec",
    "Selected",
    "SelectionConfigError",
    "SelectionError",
    "SelectionInputError",
    "SelectionParams",
    "Strategy",
    "UncertaintyMode",
    "UseCase",
    "badge",
    "confidence_threshold",
    "diversity",
    "select",
    "select_badge",
    "select_diversity",
    "top_k_per_class",
    "uncertainty",
    "with_pseudo_labels",
    "with_uncertainty",
]
