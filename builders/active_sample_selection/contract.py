"""ACTIVE_SAMPLE_SELECTION_CONTRACT, generated from the constants the job itself reads."""

from __future__ import annotations

from builders.active_sample_selection.package import ENTRY_POINT
from builders.base.contract import ScriptContract
from selection.job.config import ENV_VARS, OPTIONAL_ENV_VARS, REQUIRED_ENV_VARS, Family
from selection.names import (
    AL_STRATEGIES,
    CONTAINER_INPUT_PATHS,
    CONTAINER_OUTPUT_PATHS,
    DEFAULT_JOB_TYPE,
    INPUT_LABELED_DATA,
    INPUT_VALIDATION_DATA,
    JOB_TYPE_ARGUMENT,
    JOB_TYPES,
    PATH_ARGUMENTS,
    SSL_STRATEGIES,
)


def _path_defaults() -> dict[str, str | None]:
    # The optional inputs have no path default: the job reads a channel only when it holds files.
    paths = {**CONTAINER_INPUT_PATHS, **CONTAINER_OUTPUT_PATHS}
    optional = (INPUT_LABELED_DATA, INPUT_VALIDATION_DATA)
    return {
        flag: (None if name in optional else paths[name]) for name, flag in PATH_ARGUMENTS.items()
    }


def _description() -> str:
    families = {
        Family.COMMON: "Common",
        Family.SSL: "SSL strategies (" + ", ".join(SSL_STRATEGIES) + ")",
        Family.ACTIVE_LEARNING: "Active learning strategies (" + ", ".join(AL_STRATEGIES) + ")",
        Family.RUNTIME: "Runtime",
    }
    lines = [
        "Selects rows of a prediction set (prob_class_* columns) to pseudo-label (SSL) or to",
        "send to human labelling (active learning), on Spark. Writes the selected rows to",
        "selected_samples and a JSON summary to selection_metadata. With labeled_data, ids",
        "already labelled are never selected. validation_data (predictions on rows whose",
        "LABEL_FIELD is known) is read for CONFIDENCE_THRESHOLD=auto and CALIBRATION=temperature.",
        "",
        f"Arguments: {JOB_TYPE_ARGUMENT} ({', '.join(JOB_TYPES)}), recorded in the metadata;",
        "the path flags override the container paths (the multi-instance step passes S3 URIs).",
    ]
    for family, title in families.items():
        lines += ["", f"{title}:"]
        for var in ENV_VARS:
            if var.family is family:
                default = "required" if var.default is None else f"default {var.default!r}"
                lines.append(f"  {var.name} ({default}): {var.help}")
    return "\n".join(lines)


ACTIVE_SAMPLE_SELECTION_CONTRACT = ScriptContract(
    entry_point=ENTRY_POINT,
    expected_input_paths=dict(CONTAINER_INPUT_PATHS),
    expected_output_paths=dict(CONTAINER_OUTPUT_PATHS),
    required_env_vars=REQUIRED_ENV_VARS,
    optional_env_vars=dict(OPTIONAL_ENV_VARS),
    expected_arguments={JOB_TYPE_ARGUMENT: DEFAULT_JOB_TYPE, **_path_defaults()},
    # What the sagemaker-spark-processing:3.5-cpu-py312 image must provide (pyproject mirrors it).
    framework_requirements={"pyspark": ">=3.5.6,<3.6", "numpy": ">=1.26,<3"},
    description=_description(),
)
