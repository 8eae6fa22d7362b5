"""Choose which rows of a large prediction set are worth labelling or pseudo-labelling.

Each strategy is a factory returning a `DataFrame -> DataFrame` transform, so it composes with
`df.transform(...)`; `select(df, params)` runs the one a `SelectionParams` names.
"""

from selection.badge import badge, select_badge
from selection.errors import (
    OutputExistsError,
    SelectionConfigError,
    SelectionError,
    SelectionInputError,
)
from selection.kcenter import diversity, select_diversity
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
from selection.registry import select
from selection.result import Selected
from selection.scores import ScoreSpec
from selection.ssl import confidence_threshold, top_k_per_class, with_pseudo_labels
from selection.uncertainty import uncertainty, with_uncertainty

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
