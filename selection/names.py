"""The one source of every name the job, the library and the SageMaker step share.

Strategy names, output columns, container paths and job arguments live here; `jobs/` and
`builders/` import them rather than spelling them again. The environment variables are in
`selection.job.config`, beside the parameter-class fields whose defaults they carry.
"""

from __future__ import annotations

from enum import StrEnum


class Strategy(StrEnum):
    CONFIDENCE_THRESHOLD = "confidence_threshold"
    TOP_K_PER_CLASS = "top_k_per_class"
    UNCERTAINTY = "uncertainty"
    DIVERSITY = "diversity"
    BADGE = "badge"
    RANDOM = "random"
    CLUSTER_MARGIN = "cluster_margin"


class UseCase(StrEnum):
    SSL = "ssl"
    ACTIVE_LEARNING = "active_learning"
    AUTO = "auto"


class UncertaintyMode(StrEnum):
    MARGIN = "margin"
    ENTROPY = "entropy"
    LEAST_CONFIDENCE = "least_confidence"
    # Committee modes: they read the members' probabilities (MEMBER_FIELD_PREFIX), not p alone.
    BALD = "bald"
    VOTE_ENTROPY = "vote_entropy"
    MEAN_STD = "mean_std"


COMMITTEE_MODES: tuple[UncertaintyMode, ...] = (
    UncertaintyMode.BALD,
    UncertaintyMode.VOTE_ENTROPY,
    UncertaintyMode.MEAN_STD,
)


class Metric(StrEnum):
    EUCLIDEAN = "euclidean"
    COSINE = "cosine"


class Calibration(StrEnum):
    NONE = "none"
    TEMPERATURE = "temperature"


class OutputFormat(StrEnum):
    CSV = "csv"
    PARQUET = "parquet"


SSL_STRATEGIES: tuple[Strategy, ...] = (Strategy.CONFIDENCE_THRESHOLD, Strategy.TOP_K_PER_CLASS)
AL_STRATEGIES: tuple[Strategy, ...] = (
    Strategy.UNCERTAINTY,
    Strategy.DIVERSITY,
    Strategy.BADGE,
    Strategy.RANDOM,
    Strategy.CLUSTER_MARGIN,
)
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
# A committee of M models: member m's probability of class c is column
# `<member prefix><m>_class_<c>` (default `prob_member_<m>_class_<c>`), m = 0..M-1, c = 0..C-1.
DEFAULT_MEMBER_PREFIX = "prob_member_"
MEMBER_CLASS_INFIX = "_class_"
DEFAULT_ID_FIELD = "id"
EMBEDDING_PREFIX = "emb_"

# Job types the entry point accepts as --job_type; the value is recorded, not interpreted.
JOB_TYPES: tuple[str, ...] = ("ssl_selection", "active_learning_selection")
DEFAULT_JOB_TYPE = "ssl_selection"

# CONFIDENCE_THRESHOLD's value that asks for per-class thresholds fitted to TARGET_ACCURACY.
AUTO_THRESHOLD = "auto"


# Container paths of the script contract; also the job's path defaults.
INPUT_EVALUATION_DATA = "evaluation_data"
INPUT_LABELED_DATA = "labeled_data"
INPUT_VALIDATION_DATA = "validation_data"
OUTPUT_SELECTED_SAMPLES = "selected_samples"
OUTPUT_SELECTION_METADATA = "selection_metadata"
CONTAINER_INPUT_PATHS: dict[str, str] = {
    INPUT_EVALUATION_DATA: "/opt/ml/processing/input/evaluation_data",
    INPUT_LABELED_DATA: "/opt/ml/processing/input/labeled_data",
    INPUT_VALIDATION_DATA: "/opt/ml/processing/input/validation_data",
}
CONTAINER_OUTPUT_PATHS: dict[str, str] = {
    OUTPUT_SELECTED_SAMPLES: "/opt/ml/processing/output/selected_samples",
    OUTPUT_SELECTION_METADATA: "/opt/ml/processing/output/selection_metadata",
}
# Job arguments that carry the paths (the multi-instance step passes S3 URIs through them).
PATH_ARGUMENTS: dict[str, str] = {
    INPUT_EVALUATION_DATA: "--input",
    INPUT_LABELED_DATA: "--labeled-data",
    INPUT_VALIDATION_DATA: "--validation-data",
    OUTPUT_SELECTED_SAMPLES: "--output",
    OUTPUT_SELECTION_METADATA: "--metadata-output",
}
JOB_TYPE_ARGUMENT = "--job_type"
OVERWRITE_ARGUMENT = "--overwrite"
ALLOWED_URI_SCHEMES: tuple[str, ...] = ("", "file", "s3", "s3a")
