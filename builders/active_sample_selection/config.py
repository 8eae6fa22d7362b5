"""ActiveSampleSelectionConfig: the selection job's variables plus where and how Spark runs it.

Every selection field is named after a contract variable (`CONFIDENCE_THRESHOLD` ->
`confidence_threshold`) and takes that variable's default from `selection.names`, so the job,
the contract and this config cannot drift apart; the engine then checks the whole set.

One model for two kinds of user: this project's field names and the cursus design document's
(`processing_framework_version`, `processing_entry_point`, the base fields of
`ProcessingStepConfigBase`) are both accepted; unknown names are still refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator

from builders.active_sample_selection.package import ENTRY_POINT
from builders.base.config import ProcessingStepConfigBase

# The engine's variable table and parameter model (defaults are read from the engine's
# parameter classes through ENV_VARS, never spelled here).
from selection.job.config import (
    ENV_VARS,
    ENV_VARS_BY_NAME,
    JOB_TYPE_BY_FAMILY,
    OPTIONAL_ENV_VARS,
    REQUIRED_ENV_VARS,
    Family,
    JobParams,
    as_env_text,
    env_vars_for,
    job_params_from_env,
)
from selection.names import (
    AUTO_THRESHOLD,
    JOB_TYPES,
    SSL_STRATEGIES,
    STRATEGIES_BY_USE_CASE,
    Calibration,
    Metric,
    OutputFormat,
    Strategy,
    UncertaintyMode,
    UseCase,
)


def engine_params(env: Mapping[str, str]) -> JobParams:
    """The job's own parameters parsed from `env`; raises its SelectionConfigError."""
    return job_params_from_env(env)


__all__ = [
    "ENV_VARS",
    "OPTIONAL_ENV_VARS",
    "REQUIRED_ENV_VARS",
    "ActiveSampleSelectionConfig",
    "engine_params",
]

SPARK_LOG_LEVELS = ("ALL", "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "OFF")
SPARK_FRAMEWORK_VERSION: Final = "3.5"
CONFIDENCE_RANGE = (0.5, 1.0)
# Why a strategy does not fit a use case, in the design document's words (its tests match them).
_MISFIT: dict[UseCase, str] = {
    UseCase.SSL: "is NOT valid for SSL! It selects uncertain rows, whose pseudo-labels would be "
    "noisy",
    UseCase.ACTIVE_LEARNING: "is NOT recommended for Active Learning! It selects confident rows, "
    "which spends labelling effort on easy ones",
}
_MEMORY = re.compile(r"^[1-9][0-9]*[kmgtp]$", re.IGNORECASE)
# Spark settings that have a typed field; setting them in spark_defaults as well is ambiguous.
_TYPED_SPARK_KEYS: dict[str, str] = {
    "spark.executor.memory": "spark_executor_memory",
    "spark.executor.cores": "spark_executor_cores",
    "spark.driver.memory": "spark_driver_memory",
    "spark.sql.shuffle.partitions": "spark_sql_shuffle_partitions",
}


def _default(name: str, parse: Callable[[str], Any] = str, **constraints: Any) -> Any:
    """A field whose default is the contract's default for variable `name`, parsed."""
    return Field(default=parse(OPTIONAL_ENV_VARS[name]), description=_help(name), **constraints)


def _flag(text: str) -> bool:
    return {"true": True, "false": False}[text.lower()]


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _help(name: str) -> str:
    return ENV_VARS_BY_NAME[name].help


class ActiveSampleSelectionConfig(ProcessingStepConfigBase):
    """Configuration of one ActiveSampleSelection step (SSL or active learning)."""

    # ===== Tier 1: essential user inputs =====
    # None of its own (the base's role, region, bucket and pipeline name, as in the document).

    # ===== Tier 2: selection parameters, one per contract variable =====
    # The job requires SELECTION_STRATEGY; the step always sends it, so the config can default
    # it as the document does.
    selection_strategy: Strategy = Field(
        default=Strategy.CONFIDENCE_THRESHOLD, description=_help("SELECTION_STRATEGY")
    )
    use_case: UseCase = _default("USE_CASE", UseCase)
    id_field: str = _default("ID_FIELD")
    label_field: str = _default("LABEL_FIELD")
    output_format: OutputFormat = _default("OUTPUT_FORMAT", OutputFormat)
    score_field_prefix: str = _default("SCORE_FIELD_PREFIX")
    score_field: str = _default("SCORE_FIELD")
    random_seed: int = _default("RANDOM_SEED", int, ge=0)
    prob_sum_tolerance: float = _default("PROB_SUM_TOLERANCE", float, ge=0.0, lt=1.0)
    normalize_scores: bool = _default("NORMALIZE_SCORES", _flag)
    member_field_prefix: str = _default("MEMBER_FIELD_PREFIX")
    check_unique_ids: bool = _default("CHECK_UNIQUE_IDS", _flag)
    csv_multiline: bool = _default("CSV_MULTILINE", _flag)
    confidence_threshold: float | Literal["auto"] = _default("CONFIDENCE_THRESHOLD", float)
    require_agreement: bool = _default("REQUIRE_AGREEMENT", _flag)
    max_samples: int = _default("MAX_SAMPLES", int, ge=0)
    max_per_class: int = _default("MAX_PER_CLASS", int, ge=0)
    target_accuracy: float = _default("TARGET_ACCURACY", float, ge=0.0, lt=1.0)
    confidence_level: float = _default("CONFIDENCE_LEVEL", float, ge=0.5, lt=1.0)
    calibration: Calibration = _default("CALIBRATION", Calibration)
    k_per_class: int = _default("K_PER_CLASS", int, ge=1)
    uncertainty_mode: UncertaintyMode = _default("UNCERTAINTY_MODE", UncertaintyMode)
    batch_size: int = _default("BATCH_SIZE", int, ge=1)
    metric: Metric = _default("METRIC", Metric)
    feature_fields: tuple[str, ...] = _default("FEATURE_FIELDS", _names)
    kmeans_rounds: int = _default("KMEANS_ROUNDS", int, ge=1)
    class_balance: bool = _default("CLASS_BALANCE", _flag)
    margin_oversample: int = _default("MARGIN_OVERSAMPLE", int, ge=1)
    clusters: int = _default("CLUSTERS", int, ge=0)
    spark_log_level: str = _default("SPARK_LOG_LEVEL")

    # ===== Tier 2: the step and its Spark cluster =====
    job_type: str | None = Field(default=None, description="--job_type; default from strategy")
    overwrite_outputs: bool = Field(
        default=False, description="pass --overwrite (fixed S3 outputs with instance count > 1)"
    )
    processing_entry_point: str = Field(
        default=ENTRY_POINT, description="the job file the step ships; only this one"
    )
    framework_version: Literal["3.5"] = Field(
        default=SPARK_FRAMEWORK_VERSION,
        validation_alias=AliasChoices("framework_version", "processing_framework_version"),
        description="the Spark image's version (cursus: processing_framework_version)",
    )
    py_version: Literal["py312"] = "py312"
    container_version: str = Field(default="1", pattern=r"^[0-9]+$")
    image_uri: str | None = Field(default=None, description="override, e.g. a private ECR mirror")
    spark_executor_memory: str | None = None
    spark_executor_cores: int | None = Field(default=None, ge=1)
    spark_driver_memory: str | None = None
    spark_sql_shuffle_partitions: int | None = Field(default=None, ge=1)
    spark_defaults: dict[str, str] = Field(default_factory=dict, description="more spark.* keys")
    spark_event_logs_s3_uri: str | None = None

    @field_validator("feature_fields", mode="before")
    @classmethod
    def _split_fields(cls, value: object) -> object:
        # Accept the variable's own comma-separated form as well as a list.
        return _names(value) if isinstance(value, str) else value

    @field_validator("feature_fields")
    @classmethod
    def _plain_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if not name.strip() or "," in name:
                raise ValueError(f"feature_fields entry {name!r} must be a non-empty column name")
        return value

    @field_validator("confidence_threshold", mode="before")
    @classmethod
    def _auto(cls, value: object) -> object:
        # "auto" in any case, as the variable accepts it.
        if isinstance(value, str) and value.strip().lower() == AUTO_THRESHOLD:
            return AUTO_THRESHOLD
        return value

    @field_validator("confidence_threshold")
    @classmethod
    def _confidence(cls, value: float | str) -> float | str:
        if isinstance(value, str):
            return value
        low, high = CONFIDENCE_RANGE
        if not low <= value <= high:
            raise ValueError(f"confidence_threshold must be between {low} and {high}, got {value}")
        return value

    @field_validator("processing_entry_point")
    @classmethod
    def _entry_point(cls, value: str) -> str:
        if value != ENTRY_POINT:
            raise ValueError(
                f"processing_entry_point {value!r}: this step ships and runs {ENTRY_POINT} "
                "(with the selection package); leave the field out"
            )
        return value

    @field_validator("framework_version", mode="before")
    @classmethod
    def _spark_version(cls, value: Any) -> Any:
        if value != SPARK_FRAMEWORK_VERSION:
            raise ValueError(
                f"framework version {value!r} is not the Spark image's: the step runs on "
                f"sagemaker-spark-processing {SPARK_FRAMEWORK_VERSION} (a cursus "
                "processing_framework_version such as 1.2-1 names a scikit-learn image); "
                "leave it out"
            )
        return value

    @field_validator("spark_log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if value.upper() not in SPARK_LOG_LEVELS:
            raise ValueError(
                f"spark_log_level {value!r} is not one of {', '.join(SPARK_LOG_LEVELS)}"
            )
        return value.upper()

    @field_validator("job_type")
    @classmethod
    def _job_type(cls, value: str | None) -> str | None:
        if value is not None and value not in JOB_TYPES:
            raise ValueError(f"job_type {value!r} is not one of {', '.join(JOB_TYPES)}")
        return value

    @field_validator("spark_executor_memory", "spark_driver_memory")
    @classmethod
    def _memory(cls, value: str | None) -> str | None:
        if value is not None and not _MEMORY.match(value):
            raise ValueError(f"memory {value!r} must be a size with a unit, e.g. 4g or 512m")
        return value

    @field_validator("spark_defaults")
    @classmethod
    def _spark_keys(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not key.startswith("spark."):
                raise ValueError(f"spark_defaults key {key!r} must start with 'spark.'")
            if key in _TYPED_SPARK_KEYS:
                raise ValueError(f"set {key} through the field {_TYPED_SPARK_KEYS[key]!r}")
        return value

    @field_validator("spark_event_logs_s3_uri", "image_uri")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be blank; leave it out instead")
        return value

    @field_validator("spark_event_logs_s3_uri")
    @classmethod
    def _s3(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("s3://", "s3a://")):
            raise ValueError(f"spark_event_logs_s3_uri {value!r} must be an s3:// URI")
        return value

    @model_validator(mode="after")
    def _strategy_fits_use_case(self) -> ActiveSampleSelectionConfig:
        # The job refuses the same pairs (STRATEGIES_BY_USE_CASE); here the message also says
        # why, in the words the document's examples and tests use.
        allowed = STRATEGIES_BY_USE_CASE[self.use_case]
        if self.selection_strategy not in allowed:
            raise ValueError(
                f"Strategy '{self.selection_strategy}' {_MISFIT[self.use_case]}; use "
                f"{', '.join(allowed[:-1])} or {allowed[-1]}, or use_case='auto'"
            )
        return self

    @model_validator(mode="after")
    def _valid_for_the_job(self) -> ActiveSampleSelectionConfig:
        # The engine's own checks over every variable (not only the family sent), so a
        # config that builds is a config the job accepts; its errors are ValueErrors.
        engine_params(self.all_environment_variables())
        return self

    # ===== Tier 3: derived =====
    @property
    def family(self) -> Family:
        return Family.SSL if self.selection_strategy in SSL_STRATEGIES else Family.ACTIVE_LEARNING

    @property
    def resolved_job_type(self) -> str:
        """job_type, or the job type named after the strategy's family."""
        if self.job_type is not None:
            return self.job_type
        return JOB_TYPE_BY_FAMILY[self.family]

    @property
    def reads_s3_directly(self) -> bool:
        """With several instances, Spark reads and writes S3 instead of node-local channels."""
        return self.processing_instance_count > 1

    @property
    def spark_properties(self) -> dict[str, str]:
        typed = {key: getattr(self, name) for key, name in _TYPED_SPARK_KEYS.items()}
        merged = {k: str(v) for k, v in typed.items() if v is not None} | self.spark_defaults
        return dict(sorted(merged.items()))  # sorted: the uploaded file's hash is its S3 path

    @property
    def spark_configuration(self) -> list[dict[str, Any]] | None:
        """EMR-style classification for PySparkProcessor.run(configuration=...), if any."""
        properties = self.spark_properties
        if not properties:
            return None
        return [{"Classification": "spark-defaults", "Properties": properties}]

    # ===== Environment =====
    def all_environment_variables(self) -> dict[str, str]:
        return {v.name: as_env_text(getattr(self, v.name.lower())) for v in ENV_VARS}

    def get_environment_variables(self) -> dict[str, str]:
        """The job's environment: common, runtime and the chosen strategy family's variables."""
        names = {v.name for v in env_vars_for(self.selection_strategy)}
        names |= {v.name for v in ENV_VARS if v.family is Family.RUNTIME}
        return {k: v for k, v in self.all_environment_variables().items() if k in names}
