"""What a strategy hands back to the job: the selected rows and its own figures."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import DataFrame


@dataclass(frozen=True)
class Selected:
    """`rows`: every input column plus the provenance columns, ordered by selection_rank.

    `figures`: strategy-specific numbers for the metadata (e.g. covering radius and its
    certified bound for diversity); JSON-serialisable values only.
    """

    rows: DataFrame
    figures: dict[str, Any] = field(default_factory=dict)
