"""SelectionParams: every knob of a selection run, parsed (never evaluated) and validated."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from selection.errors import SelectionConfigError
from selection.names import (
    OPTIONAL_ENV_VARS,
    SSL_STRATEGIES,
    STRATEGIES_BY_USE_CASE,
    Metric,
    OutputFormat,
    Strategy,
    UncertaintyMode,
    UseCase,
)

E = TypeVar("E", bound=StrEnum)
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


@dataclass(frozen=True)
class SelectionParams:
    strategy: Strategy
    use_case: UseCase = UseCase.AUTO
    id_field: str = "id"
    label_field: str = ""
    output_format: OutputFormat = OutputFormat.CSV
    score_field_prefix: str = "prob_class_"
    score_field: str = ""
    confidence_threshold: float = 0.9
    max_samples: int = 0
    k_per_class: int = 100
    uncertainty_mode: UncertaintyMode = UncertaintyMode.MARGIN
    batch_size: int = 32
    metric: Metric = Metric.EUCLIDEAN
    random_seed: int = 42
    prob_sum_tolerance: float = 0.001
    normalize_scores: bool = False
    check_unique_ids: bool = True
    feature_fields: tuple[str, ...] = field(default_factory=tuple)
    kmeans_rounds: int = 5

    def __post_init__(self) -> None:
        allowed = STRATEGIES_BY_USE_CASE[self.use_case]
        if self.strategy not in allowed:
            kind = "SSL" if self.use_case is UseCase.SSL else "active learning"
            raise SelectionConfigError(
                f"Strategy '{self.strategy}' is NOT valid for {kind} (USE_CASE={self.use_case}): "
                f"use one of {', '.join(allowed)}, or USE_CASE=auto"
            )
        if not 0.5 <= self.confidence_threshold <= 1.0:
            raise SelectionConfigError(
                f"CONFIDENCE_THRESHOLD={self.confidence_threshold} is outside [0.5, 1.0]"
            )
        for name in ("max_samples", "random_seed"):
            if getattr(self, name) < 0:
                raise SelectionConfigError(f"{name.upper()}={getattr(self, name)} must be >= 0")
        for name in ("k_per_class", "batch_size", "kmeans_rounds"):
            if getattr(self, name) < 1:
                raise SelectionConfigError(f"{name.upper()}={getattr(self, name)} must be >= 1")
        if not 0.0 <= self.prob_sum_tolerance < 1.0:
            raise SelectionConfigError(
                f"PROB_SUM_TOLERANCE={self.prob_sum_tolerance} must be in [0, 1)"
            )
        if not self.id_field:
            raise SelectionConfigError("ID_FIELD must not be empty")
        if not self.score_field and not self.score_field_prefix:
            raise SelectionConfigError("set SCORE_FIELD_PREFIX (or SCORE_FIELD for a binary model)")

    @property
    def is_ssl(self) -> bool:
        return self.strategy in SSL_STRATEGIES

    def to_json(self) -> dict[str, Any]:
        """Typed parameters for the metadata: enums as their values, tuples as lists."""
        out: dict[str, Any] = {}
        for key, value in asdict(self).items():
            if isinstance(value, StrEnum):
                value = value.value
            elif isinstance(value, tuple):
                value = list(value)
            out[key] = value
        return out

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SelectionParams:
        """Parse the contract's variables; one missing from `env` takes its documented default."""

        def raw(name: str) -> str:
            value = env.get(name)
            return (OPTIONAL_ENV_VARS.get(name, "") if value is None else value).strip()

        strategy_text = raw("SELECTION_STRATEGY")
        if not strategy_text:
            raise SelectionConfigError(
                "SELECTION_STRATEGY is required: set it to one of " + ", ".join(Strategy)
            )
        return cls(
            strategy=_choice(Strategy, "SELECTION_STRATEGY", strategy_text),
            use_case=_choice(UseCase, "USE_CASE", raw("USE_CASE")),
            id_field=raw("ID_FIELD"),
            label_field=raw("LABEL_FIELD"),
            output_format=_choice(OutputFormat, "OUTPUT_FORMAT", raw("OUTPUT_FORMAT")),
            score_field_prefix=raw("SCORE_FIELD_PREFIX"),
            score_field=raw("SCORE_FIELD"),
            confidence_threshold=_number(
                float, "CONFIDENCE_THRESHOLD", raw("CONFIDENCE_THRESHOLD")
            ),
            max_samples=_number(int, "MAX_SAMPLES", raw("MAX_SAMPLES")),
            k_per_class=_number(int, "K_PER_CLASS", raw("K_PER_CLASS")),
            uncertainty_mode=_choice(UncertaintyMode, "UNCERTAINTY_MODE", raw("UNCERTAINTY_MODE")),
            batch_size=_number(int, "BATCH_SIZE", raw("BATCH_SIZE")),
            metric=_choice(Metric, "METRIC", raw("METRIC")),
            random_seed=_number(int, "RANDOM_SEED", raw("RANDOM_SEED")),
            prob_sum_tolerance=_number(float, "PROB_SUM_TOLERANCE", raw("PROB_SUM_TOLERANCE")),
            normalize_scores=_flag("NORMALIZE_SCORES", raw("NORMALIZE_SCORES")),
            check_unique_ids=_flag("CHECK_UNIQUE_IDS", raw("CHECK_UNIQUE_IDS")),
            feature_fields=tuple(f.strip() for f in raw("FEATURE_FIELDS").split(",") if f.strip()),
            kmeans_rounds=_number(int, "KMEANS_ROUNDS", raw("KMEANS_ROUNDS")),
        )


def _choice(enum: type[E], name: str, text: str) -> E:
    try:
        return enum(text.lower())
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise SelectionConfigError(f"{name}={text!r} is not one of: {allowed}") from None


N = TypeVar("N", int, float)


def _number(kind: Callable[[str], N], name: str, text: str) -> N:
    try:
        value = kind(text)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise SelectionConfigError(f"{name}={text!r} is not {what}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise SelectionConfigError(f"{name}={text!r} is not a finite number")
    return value


def _flag(name: str, text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise SelectionConfigError(f"{name}={text!r} is not a boolean: use true or false")
