"""SageMaker Pipelines steps for the selection job.

    from builders import ActiveSampleSelectionConfig, ActiveSampleSelectionStepBuilder

Both are imported on first use: configs, contracts and specs load without the SageMaker SDK,
whose import takes seconds, and the code package (`builders.active_sample_selection.package`,
what `make package` runs) needs nothing beyond the standard library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from builders.active_sample_selection.builder import ActiveSampleSelectionStepBuilder
    from builders.active_sample_selection.config import ActiveSampleSelectionConfig

__all__ = ["ActiveSampleSelectionConfig", "ActiveSampleSelectionStepBuilder"]


def __getattr__(name: str) -> Any:
    if name == "ActiveSampleSelectionConfig":
        from builders.active_sample_selection.config import ActiveSampleSelectionConfig

        return ActiveSampleSelectionConfig
    if name == "ActiveSampleSelectionStepBuilder":
        from builders.active_sample_selection.builder import ActiveSampleSelectionStepBuilder

        return ActiveSampleSelectionStepBuilder
    raise AttributeError(f"module 'builders' has no attribute {name!r}")
