"""The ActiveSampleSelection step: contract, specification, config, builder and code package."""

from builders.active_sample_selection.config import ActiveSampleSelectionConfig
from builders.active_sample_selection.contract import ACTIVE_SAMPLE_SELECTION_CONTRACT
from builders.active_sample_selection.spec import ACTIVE_SAMPLE_SELECTION_SPEC

__all__ = [
    "ACTIVE_SAMPLE_SELECTION_CONTRACT",
    "ACTIVE_SAMPLE_SELECTION_SPEC",
    "ActiveSampleSelectionConfig",
]
