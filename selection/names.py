"""The one source of every name the job, the library and the SageMaker step share.

Strategy names, environment variables (with defaults and flags), container paths and output
column names live here; `jobs/` and `builders/` import them rather than spelling them again.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Strategy(StrEnum):
    CONFIDENCE_THRESHOLD = "confidence_threshold"
    TOP_K_PER_CLASS = "top_k_per_class"
    UNCERTAINTY = "uncertainty"
    DIVERSITY = "diversity"
    BADGE = "badge"


class UseCase(StrEnum):
    SSL = "ssl"
    ACTIVE_LEARNING = "active_learning"
    AUTO = "auto"


class UncertaintyMode(StrEnum):
    MARGIN = "margin"
    ENTROPY = "entropy"
    LEAST_CONFIDENCE = "least_confidence"


class Metric(StrEnum):
    EUCLIDEAN = "euclidean"
    COSINE = "cosine"


class OutputFormat(StrEnum):
    CSV = "csv"
    PARQUET = "parquet"


SSL_STRATEGIES: tuple[Strategy, ...] = (Strategy.CONFIDENCE_THRESHOLD, Strategy.TOP_K_PER_CLASS)
AL_STRATEGIES: tuple[Strategy, ...] = (Strategy.UNCERTAINTY, Strategy.DIVERSITY, Strategy.BADGE)
STRATEGIES_BY_USE_CASE: dict[UseCase, tuple[Strategy, ...]] = {
    UseCase.SSL: SSL_STRATEGIES,
    UseCase.ACTIVE_LEARNING: AL_STRATEGIES,
    UseCase.AUTO: SSL_STRATEGIES + AL_STRATEGIES,
}

# Output columns added to every selected row.
PSEUDO_LABEL = "pseudo_label"
CONFIDENCE = "confidence"
UNCERTAINTY_SCORE = "uncertainty_score"
DATA_SOURCE = "data_source"
SELECTION_RANK = "selection_rank"
DATA_SOURCE_SSL = "pseudo_labeled"
DATA_SOURCE_AL = "active_learning"

METADATA_FILE = "selection_metadata.json"
DEFAULT_SCORE_PREFIX = "prob_class_"
DEFAULT_ID_FIELD = "id"
EMBEDDING_PREFIX = "emb_"

# Job types the entry point accepts as --job_type; the value is recorded, not interpreted.
JOB_TYPES: tuple[str, ...] = ("ssl_selection", "active_learning_selection")
DEFAULT_JOB_TYPE = "ssl_selection"


class Family(StrEnum):
    """Which strategies read an environment variable; the step sends only the relevant ones."""

    COMMON = "common"
    SSL = "ssl"
    ACTIVE_LEARNING = "active_learning"
    RUNTIME = "runtime"


JOB_TYPE_BY_FAMILY: dict[Family, str] = {
    Family.SSL: JOB_TYPES[0],
    Family.ACTIVE_LEARNING: JOB_TYPES[1],
}


@dataclass(frozen=True)
class EnvVar:
    name: str
    default: str | None  # None: required
    family: Family
    help: str

    @property
    def flag(self) -> str:
        return "--" + self.name.lower().replace("_", "-")


ENV_VARS: tuple[EnvVar, ...] = (
    EnvVar("SELECTION_STRATEGY", None, Family.COMMON, "one of " + ", ".join(Strategy)),
    EnvVar("USE_CASE", "auto", Family.COMMON, "ssl, active_learning or auto"),
    EnvVar("ID_FIELD", DEFAULT_ID_FIELD, Family.COMMON, "id column"),
    EnvVar("LABEL_FIELD", "", Family.COMMON, "optional true-label column for validation figures"),
    EnvVar("OUTPUT_FORMAT", "csv", Family.COMMON, "csv or parquet"),
    EnvVar("SCORE_FIELD_PREFIX", DEFAULT_SCORE_PREFIX, Family.COMMON, "probability column prefix"),
    EnvVar("SCORE_FIELD", "", Family.COMMON, "single score column of a binary model"),
    EnvVar("RANDOM_SEED", "42", Family.COMMON, "seed of every random choice"),
    EnvVar("PROB_SUM_TOLERANCE", "0.001", Family.COMMON, "allowed |sum(p) - 1| per row"),
    EnvVar("NORMALIZE_SCORES", "false", Family.COMMON, "divide each row by its sum"),
    EnvVar("CHECK_UNIQUE_IDS", "true", Family.COMMON, "check ids are unique over the input"),
    EnvVar("CONFIDENCE_THRESHOLD", "0.9", Family.SSL, "minimum confidence, in [0.5, 1]"),
    EnvVar("MAX_SAMPLES", "0", Family.SSL, "cap on selected rows, 0 = none"),
    EnvVar("K_PER_CLASS", "100", Family.SSL, "rows per predicted class (top_k_per_class)"),
    EnvVar(
        "UNCERTAINTY_MODE", "margin", Family.ACTIVE_LEARNING, "margin, entropy, least_confidence"
    ),
    EnvVar("BATCH_SIZE", "32", Family.ACTIVE_LEARNING, "rows to select"),
    EnvVar("METRIC", "euclidean", Family.ACTIVE_LEARNING, "euclidean or cosine"),
    EnvVar("FEATURE_FIELDS", "", Family.ACTIVE_LEARNING, "comma list of embedding columns"),
    EnvVar("KMEANS_ROUNDS", "5", Family.ACTIVE_LEARNING, "k-means|| oversampling rounds (badge)"),
    EnvVar("SPARK_LOG_LEVEL", "WARN", Family.RUNTIME, "Spark's own log level (INFO to see it all)"),
)
ENV_VARS_BY_NAME: dict[str, EnvVar] = {v.name: v for v in ENV_VARS}
REQUIRED_ENV_VARS: tuple[str, ...] = tuple(v.name for v in ENV_VARS if v.default is None)
OPTIONAL_ENV_VARS: dict[str, str] = {v.name: v.default for v in ENV_VARS if v.default is not None}


def env_vars_for(strategy: Strategy) -> tuple[EnvVar, ...]:
    """The variables a strategy reads: the common ones plus its family's."""
    family = Family.SSL if strategy in SSL_STRATEGIES else Family.ACTIVE_LEARNING
    return tuple(v for v in ENV_VARS if v.family in (Family.COMMON, family))


# Container paths of the script contract; also the job's path defaults.
INPUT_EVALUATION_DATA = "evaluation_data"
INPUT_LABELED_DATA = "labeled_data"
OUTPUT_SELECTED_SAMPLES = "selected_samples"
OUTPUT_SELECTION_METADATA = "selection_metadata"
CONTAINER_INPUT_PATHS: dict[str, str] = {
    INPUT_EVALUATION_DATA: "/opt/ml/processing/input/evaluation_data",
    INPUT_LABELED_DATA: "/opt/ml/processing/input/labeled_data",
}
CONTAINER_OUTPUT_PATHS: dict[str, str] = {
    OUTPUT_SELECTED_SAMPLES: "/opt/ml/processing/output/selected_samples",
    OUTPUT_SELECTION_METADATA: "/opt/ml/processing/output/selection_metadata",
}
# Job arguments that carry the paths (the multi-instance step passes S3 URIs through them).
PATH_ARGUMENTS: dict[str, str] = {
    INPUT_EVALUATION_DATA: "--input",
    INPUT_LABELED_DATA: "--labeled-data",
    OUTPUT_SELECTED_SAMPLES: "--output",
    OUTPUT_SELECTION_METADATA: "--metadata-output",
}
JOB_TYPE_ARGUMENT = "--job_type"
OVERWRITE_ARGUMENT = "--overwrite"
ALLOWED_URI_SCHEMES: tuple[str, ...] = ("", "file", "s3", "s3a")
