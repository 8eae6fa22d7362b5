"""SageMaker Pipelines steps for the selection job.

    from builders import ActiveSampleSelectionConfig, ActiveSampleSelectionStepBuilder

The builder is imported on first use: configs, contracts and specs load without the
SageMaker SDK, whose import takes seconds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from builders.active_sample_selection.config import ActiveSampleSelectionConfig

if TYPE_CHECKING:
    from builders.active_sample_selection.builder import ActiveSampleSelectionStepBuilder

__all__ = ["ActiveSampleSelectionConfig", "ActiveSampleSelectionStepBuilder"]


def __getattr__(name: str) -> Any:
    if name == "ActiveSampleSelectionStepBuilder":
        from builders.active_sample_selection.builder import ActiveSampleSelectionStepBuilder

        return ActiveSampleSelectionStepBuilder
    raise AttributeError(f"module 'builders' has no attribute {name!r}")
