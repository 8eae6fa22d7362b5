"""What a strategy hands back: the selected rows and its typed summary."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
from pyspark.sql import DataFrame

Transform = Callable[[DataFrame], DataFrame]


def as_float(value: float) -> float | None:
    """A JSON-safe float for the metadata (None for NaN/inf)."""
    return float(value) if np.isfinite(value) else None


@dataclass(frozen=True)
class StrategySummary:
    """What a strategy reports beyond its rows, as pyspark.ml's `KMeansSummary` does for a
    model. The one-scan strategies report nothing more: they hand back this base, empty.

    Each strategy with figures derives its own frozen class; `metadata()` gives the
    `strategy_figures` of selection_metadata.json, whose keys are contract.
    """

    def metadata(self) -> dict[str, Any]:
        """The figures as JSON values (NaN and infinities as null), in their documented order."""
        return {}


NO_SUMMARY = StrategySummary()
S = TypeVar("S", bound=StrategySummary, covariant=True)


@dataclass(frozen=True)
class Selected(Generic[S]):
    """`rows`: every input column plus the provenance columns, ordered by selection_rank.

    `summary`: the strategy's typed figures (e.g. `DiversitySummary.covering_radius`); none
    (`NO_SUMMARY`) for the one-scan strategies, so `Selected(rows)` is theirs.
    """

    rows: DataFrame
    # A default of the bound for a type variable: mypy cannot check it, Selected(rows) is a
    # Selected[StrategySummary].
    summary: S = NO_SUMMARY  # type: ignore[assignment]
