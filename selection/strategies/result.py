"""What a strategy hands back: the selected rows and, where it has them, its typed summary."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import DataFrame

Transform = Callable[[DataFrame], DataFrame]


@dataclass(frozen=True)
class Selected:
    """`rows`: every input column plus the provenance columns, ordered by selection_rank.

    `figures`: strategy-specific numbers for the metadata (e.g. covering radius and its
    certified bound for diversity); JSON-serialisable values only.
    """

    rows: DataFrame
    figures: dict[str, Any] = field(default_factory=dict)
