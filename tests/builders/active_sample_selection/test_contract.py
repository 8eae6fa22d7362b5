"""The contract is generated from selection.names and agrees with the job's own parser."""

from __future__ import annotations

import argparse
import importlib.metadata
import re

import pytest

from builders.active_sample_selection.contract import (
    ACTIVE_SAMPLE_SELECTION_CONTRACT as CONTRACT,
)
from jobs.active_sample_selection import build_parser
from selection.job.config import ENV_VARS, job_params_from_env
from selection.names import (
    CONTAINER_INPUT_PATHS,
    CONTAINER_OUTPUT_PATHS,
    DEFAULT_JOB_TYPE,
    JOB_TYPE_ARGUMENT,
    OVERWRITE_ARGUMENT,
    PATH_ARGUMENTS,
)


def options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {flag: action for action in parser._actions for flag in action.option_strings}


def test_contract_shape() -> None:
    assert CONTRACT.entry_point == "active_sample_selection.py"
    assert CONTRACT.expected_input_paths == {
        "evaluation_data": "/opt/ml/processing/input/evaluation_data",
        "labeled_data": "/opt/ml/processing/input/labeled_data",
        "validation_data": "/opt/ml/processing/input/validation_data",
    }
    assert CONTRACT.expected_output_paths == {
        "selected_samples": "/opt/ml/processing/output/selected_samples",
        "selection_metadata": "/opt/ml/processing/output/selection_metadata",
    }
    assert CONTRACT.required_env_vars == ("SELECTION_STRATEGY",)


def test_contract_is_generated_from_the_names_module() -> None:
    assert CONTRACT.expected_input_paths == CONTAINER_INPUT_PATHS
    assert CONTRACT.expected_output_paths == CONTAINER_OUTPUT_PATHS
    assert CONTRACT.env_var_names == tuple(v.name for v in ENV_VARS)
    for var in ENV_VARS:
        if var.default is not None:
            assert CONTRACT.optional_env_vars[var.name] == var.default
        assert var.name in CONTRACT.description


def test_every_contract_argument_is_a_parser_option_with_the_same_default() -> None:
    parser_options = options(build_parser())
    for flag, default in CONTRACT.expected_arguments.items():
        assert flag in parser_options, flag
        assert parser_options[flag].default == default, flag
    assert set(PATH_ARGUMENTS.values()) | {JOB_TYPE_ARGUMENT} == set(CONTRACT.expected_arguments)
    assert CONTRACT.expected_arguments[JOB_TYPE_ARGUMENT] == DEFAULT_JOB_TYPE
    assert parser_options[OVERWRITE_ARGUMENT].default is False  # the builder may pass it


def test_every_contract_variable_has_a_flag_the_job_reads_into_it() -> None:
    parser_options = options(build_parser())
    for name in CONTRACT.env_var_names:
        flag = "--" + name.lower().replace("_", "-")
        assert parser_options[flag].dest == name


def test_contract_defaults_are_the_defaults_the_job_applies() -> None:
    bare = job_params_from_env({"SELECTION_STRATEGY": "uncertainty"})
    explicit = job_params_from_env(
        {**CONTRACT.optional_env_vars, "SELECTION_STRATEGY": "uncertainty"}
    )
    assert explicit == bare


def test_job_parses_the_arguments_the_multi_instance_step_passes() -> None:
    args = build_parser().parse_args(
        [JOB_TYPE_ARGUMENT, "active_learning_selection", OVERWRITE_ARGUMENT]
        + [part for flag in PATH_ARGUMENTS.values() for part in (flag, f"s3://b/{flag[2:]}")]
    )
    assert args.job_type == "active_learning_selection" and args.overwrite
    assert (args.input, args.labeled_data, args.output, args.metadata_output) == (
        "s3://b/input",
        "s3://b/labeled-data",
        "s3://b/output",
        "s3://b/metadata-output",
    )


def test_framework_requirements_match_the_package_metadata() -> None:
    try:
        requires = importlib.metadata.requires("active-sample-selection") or []
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("project not installed")

    def parts(name: str, spec: str) -> tuple[str, frozenset[str]]:
        return name, frozenset(spec.replace(" ", "").split(","))

    runtime = dict(
        parts(*re.match(r"([A-Za-z0-9_.-]+)(.*)", r).groups())  # type: ignore[union-attr]
        for r in requires
        if "extra ==" not in r
    )
    assert runtime == dict(parts(*item) for item in CONTRACT.framework_requirements.items())
