"""The job's configuration: its environment variables and the parameter objects they become.

Each variable names the parameter-class field it sets; its default and help are read from that
field, so the job, the README table and the SageMaker step cannot drift from the library. A
variable is parsed (never evaluated) by its field's type, and every strategy's variables are
checked whichever strategy runs, so a typo in an unused one still fails loudly.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from selection.engine.scores import ScoreSpec
from selection.errors import SelectionConfigError, SelectionParamError
from selection.names import (
    AUTO_THRESHOLD,
    JOB_TYPES,
    SSL_STRATEGIES,
    STRATEGIES_BY_USE_CASE,
    Calibration,
    OutputFormat,
    Strategy,
    UseCase,
)
from selection.params import (
    ActiveLearningParams,
    BalancedBatchParams,
    EmbeddingParams,
    PseudoLabelParams,
    StrategyParams,
    doc_of,
    param,
)
from selection.strategies import PARAMS_BY_STRATEGY, AnyStrategy

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


class Family(StrEnum):
    """Which strategies read a variable; the step sends only the relevant ones."""

    COMMON = "common"
    SSL = "ssl"
    ACTIVE_LEARNING = "active_learning"
    RUNTIME = "runtime"


@dataclass(frozen=True, kw_only=True)
class JobParams:
    """One run of the job: the strategy's parameters plus what the job itself reads."""

    selection: AnyStrategy
    use_case: UseCase = param(UseCase.AUTO, "ssl, active_learning or auto")
    label_field: str = param("", "optional true-label column for validation figures")
    output_format: OutputFormat = param(OutputFormat.CSV, "csv or parquet")
    prob_sum_tolerance: float = param(0.001, "allowed |sum(p) - 1| per row")
    check_unique_ids: bool = param(True, "check ids are unique over the input")
    csv_multiline: bool = param(
        False, "CSV/TSV quoted fields may hold line breaks (each file is then read by one task)"
    )
    spark_log_level: str = param("WARN", "Spark's own log level (INFO to see it all)")
    calibration: Calibration = param(
        Calibration.NONE,
        "none, or temperature: scale the probabilities by a temperature fitted on the "
        "validation set before any score",
    )

    def __post_init__(self) -> None:
        allowed = STRATEGIES_BY_USE_CASE[self.use_case]
        if self.strategy not in allowed:
            kind = "SSL" if self.use_case is UseCase.SSL else "active learning"
            raise SelectionConfigError(
                f"Strategy '{self.strategy}' is NOT valid for {kind} (USE_CASE={self.use_case}): "
                f"use one of {', '.join(allowed)}, or USE_CASE=auto"
            )
        if not 0.0 <= self.prob_sum_tolerance < 1.0:
            raise SelectionParamError(
                "prob_sum_tolerance", "must be in [0, 1)", self.prob_sum_tolerance
            )

    @property
    def strategy(self) -> Strategy:
        return self.selection.strategy

    @property
    def is_ssl(self) -> bool:
        return self.strategy in SSL_STRATEGIES

    def to_json(self) -> dict[str, Any]:
        """Every variable's typed value, keyed as the contract names it (lower case)."""
        out: dict[str, Any] = {"strategy": self.strategy.value}
        for var in ENV_VARS:
            if var.family is Family.RUNTIME or var.owner is None:
                continue
            value = _json(var.read(self))
            out[var.name.lower()] = value
        return out


def as_env_text(value: Any) -> str:
    """A parameter value as the variable's text, which the job parses back to the same value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, tuple):
        return ",".join(value)
    return str(value)


def _json(value: Any) -> Any:
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, tuple):
        return list(value)
    return value


@dataclass(frozen=True)
class EnvVar:
    """A contract variable: the field it sets (`owner.field`), its family, default and help."""

    name: str
    owner: type | None  # None: SELECTION_STRATEGY, which picks the class
    field: str
    family: Family

    @property
    def flag(self) -> str:
        return "--" + self.name.lower().replace("_", "-")

    @property
    def default(self) -> str | None:
        """The default as the variable's text; None: required."""
        if self.owner is None:
            return None
        return as_env_text(getattr(self.owner, self.field))

    @property
    def help(self) -> str:
        if self.owner is None:
            return "one of " + ", ".join(Strategy)
        return doc_of(self.owner, self.field) or _SCORE_HELP[self.field]

    def read(self, job: JobParams) -> Any:
        """This variable's value in `job` (the class default when the strategy lacks the field)."""
        if self.owner is JobParams:
            return getattr(job, self.field)
        if self.owner is ScoreSpec:
            return getattr(job.selection.scores, self.field)
        assert self.owner is not None
        return getattr(job.selection, self.field, getattr(self.owner, self.field))


_SCORE_HELP = {
    "prefix": "probability column prefix",
    "single": "single score column of a binary model",
    "normalize": "divide each row by its sum",
    "members": "committee columns are <prefix><m>_class_<c>; a prefix no column has = none",
}


def _family(owner: type | None) -> Family:
    if isinstance(owner, type) and issubclass(owner, PseudoLabelParams):
        return Family.SSL
    if isinstance(owner, type) and issubclass(owner, ActiveLearningParams):
        return Family.ACTIVE_LEARNING
    return Family.COMMON


def _var(name: str, owner: type | None, field: str = "", family: Family | None = None) -> EnvVar:
    return EnvVar(name, owner, field, family or _family(owner))


_Conf = PARAMS_BY_STRATEGY[Strategy.CONFIDENCE_THRESHOLD]
_TopK = PARAMS_BY_STRATEGY[Strategy.TOP_K_PER_CLASS]
_Badge = PARAMS_BY_STRATEGY[Strategy.BADGE]
_ClusterMargin = PARAMS_BY_STRATEGY[Strategy.CLUSTER_MARGIN]

ENV_VARS: tuple[EnvVar, ...] = (
    _var("SELECTION_STRATEGY", None),
    _var("USE_CASE", JobParams, "use_case"),
    _var("ID_FIELD", StrategyParams, "id_col"),
    _var("LABEL_FIELD", JobParams, "label_field"),
    _var("OUTPUT_FORMAT", JobParams, "output_format"),
    _var("SCORE_FIELD_PREFIX", ScoreSpec, "prefix"),
    _var("SCORE_FIELD", ScoreSpec, "single"),
    _var("RANDOM_SEED", StrategyParams, "seed"),
    _var("PROB_SUM_TOLERANCE", JobParams, "prob_sum_tolerance"),
    _var("NORMALIZE_SCORES", ScoreSpec, "normalize"),
    _var("MEMBER_FIELD_PREFIX", ScoreSpec, "members"),
    _var("CHECK_UNIQUE_IDS", JobParams, "check_unique_ids"),
    _var("CSV_MULTILINE", JobParams, "csv_multiline"),
    _var("CONFIDENCE_THRESHOLD", _Conf, "threshold"),
    _var("REQUIRE_AGREEMENT", _Conf, "agreement"),
    _var("MAX_SAMPLES", PseudoLabelParams, "max_samples"),
    _var("K_PER_CLASS", _TopK, "k"),
    _var("UNCERTAINTY_MODE", ActiveLearningParams, "mode"),
    _var("BATCH_SIZE", ActiveLearningParams, "batch_size"),
    _var("METRIC", EmbeddingParams, "metric"),
    _var("FEATURE_FIELDS", EmbeddingParams, "features"),
    _var("KMEANS_ROUNDS", _Badge, "rounds"),
    _var("CLASS_BALANCE", BalancedBatchParams, "class_balance"),
    _var("MARGIN_OVERSAMPLE", _ClusterMargin, "oversample"),
    _var("CLUSTERS", _ClusterMargin, "clusters"),
    _var("SPARK_LOG_LEVEL", JobParams, "spark_log_level", Family.RUNTIME),
    _var("MAX_PER_CLASS", _Conf, "max_per_class"),
    _var("TARGET_ACCURACY", _Conf, "target_accuracy"),
    _var("CONFIDENCE_LEVEL", _Conf, "confidence_level"),
    _var("CALIBRATION", JobParams, "calibration"),
)
ENV_VARS_BY_NAME: dict[str, EnvVar] = {v.name: v for v in ENV_VARS}
REQUIRED_ENV_VARS: tuple[str, ...] = tuple(v.name for v in ENV_VARS if v.default is None)
OPTIONAL_ENV_VARS: dict[str, str] = {v.name: v.default for v in ENV_VARS if v.default is not None}
JOB_TYPE_BY_FAMILY: dict[Family, str] = {
    Family.SSL: JOB_TYPES[0],
    Family.ACTIVE_LEARNING: JOB_TYPES[1],
}


# How library errors spell the arguments that the job sets through a variable.
_LIBRARY_SPELLING: dict[str, str] = {
    "ScoreSpec(prefix=...)": "SCORE_FIELD_PREFIX",
    "ScoreSpec(single=...)": "SCORE_FIELD",
    "ScoreSpec(members=...)": "MEMBER_FIELD_PREFIX",
    "features=": "FEATURE_FIELDS",
    "threshold='auto'": f"CONFIDENCE_THRESHOLD={AUTO_THRESHOLD}",
}


def in_job_terms(message: str) -> str:
    """A library error's message with each argument it names spelled as the job's variable."""
    for library, variable in _LIBRARY_SPELLING.items():
        message = message.replace(library, variable)
    return message


def family_of(strategy: Strategy) -> Family:
    return Family.SSL if strategy in SSL_STRATEGIES else Family.ACTIVE_LEARNING


def env_vars_for(strategy: Strategy) -> tuple[EnvVar, ...]:
    """The variables a strategy reads: the common ones plus its family's."""
    family = family_of(strategy)
    return tuple(v for v in ENV_VARS if v.family in (Family.COMMON, family))


def job_params_from_env(env: Mapping[str, str]) -> JobParams:
    """Parse the contract's variables; one missing from `env` takes its documented default."""

    def raw(name: str) -> str:
        value = env.get(name)
        return (OPTIONAL_ENV_VARS.get(name, "") if value is None else value).strip()

    strategy_text = raw("SELECTION_STRATEGY")
    if not strategy_text:
        raise SelectionConfigError(
            "SELECTION_STRATEGY is required: set it to one of " + ", ".join(Strategy)
        )
    strategy = _choice(Strategy, "SELECTION_STRATEGY", strategy_text)
    values: dict[str, Any] = {
        var.name: _parse(var, raw(var.name)) for var in ENV_VARS if var.owner is not None
    }
    prefix, single = values["SCORE_FIELD_PREFIX"], values["SCORE_FIELD"]
    if not single and not prefix:
        raise SelectionConfigError("set SCORE_FIELD_PREFIX (or SCORE_FIELD for a binary model)")
    scores = ScoreSpec(
        prefix=prefix,
        single=single,
        normalize=values["NORMALIZE_SCORES"],
        members=values["MEMBER_FIELD_PREFIX"],
    )
    job_fields = {var.field: values[var.name] for var in ENV_VARS if var.owner is JobParams}
    selection = _build(PARAMS_BY_STRATEGY[strategy], values, scores)
    try:
        job = JobParams(selection=selection, **job_fields)
    except SelectionParamError as exc:
        raise SelectionConfigError(exc.render(_env_name(JobParams, exc.argument))) from None
    # The other strategies' variables are checked too: a bad one is a typo worth failing on.
    for other, cls in PARAMS_BY_STRATEGY.items():
        if other is not strategy:
            _build(cls, values, scores)
    return job


def _build(cls: type[AnyStrategy], values: dict[str, Any], scores: ScoreSpec) -> AnyStrategy:
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {"scores": scores}
    for var in ENV_VARS:
        if isinstance(var.owner, type) and issubclass(cls, var.owner) and var.field in names:
            kwargs[var.field] = values[var.name]
    try:
        return cls(**kwargs)
    except SelectionParamError as exc:
        raise SelectionConfigError(exc.render(_env_name(cls, exc.argument))) from None


def _env_name(cls: type, argument: str) -> str:
    for var in ENV_VARS:
        if isinstance(var.owner, type) and issubclass(cls, var.owner) and var.field == argument:
            return var.name
    return argument


def _field_type(var: EnvVar) -> Any:
    assert var.owner is not None
    return typing.get_type_hints(var.owner)[var.field]


def _parse(var: EnvVar, text: str) -> Any:
    kind = _field_type(var)
    if kind == float | str:  # CONFIDENCE_THRESHOLD: a number or auto
        return AUTO_THRESHOLD if text.lower() == AUTO_THRESHOLD else _number(float, var.name, text)
    if kind is bool:
        return _flag(var.name, text)
    if kind is int:
        return _number(int, var.name, text)
    if kind is float:
        return _number(float, var.name, text)
    if isinstance(kind, type) and issubclass(kind, StrEnum):
        return _choice(kind, var.name, text)
    if kind == tuple[str, ...]:
        return tuple(part.strip() for part in text.split(",") if part.strip())
    return text


E = typing.TypeVar("E", bound=StrEnum)


def _choice(enum: type[E], name: str, text: str) -> E:
    try:
        return enum(text.lower())
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise SelectionConfigError(f"{name}={text!r} is not one of: {allowed}") from None


N = typing.TypeVar("N", int, float)


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
