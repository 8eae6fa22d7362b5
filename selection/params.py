"""Parameter classes: what every strategy shares, and how a parameter is declared once.

A parameter is a field made with `param(default, doc)`: its type, default and doc sit in one
place. The strategy classes (in `selection.strategies.*`) derive from the family bases here; the
job's environment variables, their defaults and help, and the SageMaker step's config are read
from these fields (`selection.job.config`), so nothing spells a default twice.

Classes are frozen and keyword-only; `__post_init__` only validates (and turns a string into its
enum), so `Uncertainty(batch_size=0)` fails where it is written, not as an empty selection.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

from selection.engine.scores import ScoreSpec
from selection.errors import SelectionParamError
from selection.names import DEFAULT_ID_FIELD, Metric, Strategy, UncertaintyMode

E = TypeVar("E", bound=StrEnum)


def param(default: Any, doc: str) -> Any:
    """A parameter field: its default and its one-line doc (shown as the variable's help)."""
    return field(default=default, metadata={"doc": doc})


def doc_of(owner: type, name: str) -> str:
    """The doc a `param` field was declared with."""
    declared = {f.name: f for f in dataclasses.fields(owner)}
    return str(declared[name].metadata.get("doc", ""))


def as_enum(enum: type[E], argument: str, value: object) -> E:
    """`value` as a member of `enum`, from the member or its (case-insensitive) value."""
    if isinstance(value, enum):
        return value
    try:
        return enum(str(value).strip().lower())
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise SelectionParamError(argument, f"is not one of: {allowed}", repr(value)) from None


def at_least(argument: str, value: int, low: int) -> None:
    if value < low:
        raise SelectionParamError(argument, f"must be >= {low}", value)


def finite(argument: str, value: float) -> None:
    if not math.isfinite(value):
        raise SelectionParamError(argument, "is not a finite number", repr(value))


@dataclass(frozen=True, kw_only=True)
class StrategyParams:
    """What every strategy reads: the id column, where the scores are, and the seed."""

    strategy: ClassVar[Strategy]

    id_col: str = param(DEFAULT_ID_FIELD, "id column; ties are broken by ascending id")
    scores: ScoreSpec = param(ScoreSpec(), "where the class probabilities are")
    seed: int = param(42, "seed of every random choice")

    def __post_init__(self) -> None:
        if not self.id_col.strip():
            raise SelectionParamError("id_col", "must not be empty")
        if not self.scores.single and not self.scores.prefix:
            raise SelectionParamError(
                "scores", "needs ScoreSpec(prefix=...), or ScoreSpec(single=...) for a binary model"
            )
        at_least("seed", self.seed, 0)

    @property
    def is_pseudo_labelling(self) -> bool:
        return isinstance(self, PseudoLabelParams)


@dataclass(frozen=True, kw_only=True)
class PseudoLabelParams(StrategyParams):
    """Semi-supervised strategies: confident rows whose prediction becomes their label."""

    max_samples: int = param(0, "cap on selected rows, 0 = none")

    def __post_init__(self) -> None:
        super().__post_init__()
        at_least("max_samples", self.max_samples, 0)


@dataclass(frozen=True, kw_only=True)
class ActiveLearningParams(StrategyParams):
    """Active-learning strategies: a batch of rows for human labelling."""

    batch_size: int = param(32, "rows to select")
    mode: UncertaintyMode = param(
        UncertaintyMode.MARGIN,
        "margin, entropy, least_confidence; for a committee bald, vote_entropy, mean_std",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        at_least("batch_size", self.batch_size, 1)
        object.__setattr__(self, "mode", as_enum(UncertaintyMode, "mode", self.mode))


@dataclass(frozen=True, kw_only=True)
class BalancedBatchParams(ActiveLearningParams):
    """Active-learning strategies whose batch can be split evenly over the predicted classes."""

    class_balance: bool = param(
        False,
        "split BATCH_SIZE evenly over the predicted classes (a class's shortfall goes to the "
        "others)",
    )


@dataclass(frozen=True, kw_only=True)
class EmbeddingParams(ActiveLearningParams):
    """Strategies that measure distances between rows' feature columns."""

    features: tuple[str, ...] = param(
        (), "feature columns; empty: the emb_* columns, else every numeric non-id/score column"
    )
    metric: Metric = param(Metric.EUCLIDEAN, "euclidean or cosine")

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.features, str):
            raise SelectionParamError(
                "features", "must be a list of column names", repr(self.features)
            )
        object.__setattr__(self, "features", tuple(self.features))
        object.__setattr__(self, "metric", as_enum(Metric, "metric", self.metric))
