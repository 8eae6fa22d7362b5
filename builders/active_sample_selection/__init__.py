"""The ActiveSampleSelection step: contract, specification, config, builder and code package.

Loaded on first use, so that `package` (the py-files zip) imports without pydantic.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from builders.active_sample_selection.config import ActiveSampleSelectionConfig
    from builders.active_sample_selection.contract import ACTIVE_SAMPLE_SELECTION_CONTRACT
    from builders.active_sample_selection.spec import ACTIVE_SAMPLE_SELECTION_SPEC

_HOMES = {
    "ACTIVE_SAMPLE_SELECTION_CONTRACT": "contract",
    "ACTIVE_SAMPLE_SELECTION_SPEC": "spec",
    "ActiveSampleSelectionConfig": "config",
}
__all__ = [
    "ACTIVE_SAMPLE_SELECTION_CONTRACT",
    "ACTIVE_SAMPLE_SELECTION_SPEC",
    "ActiveSampleSelectionConfig",
]


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
