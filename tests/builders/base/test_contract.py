from __future__ import annotations

from typing import Any

import pytest

from builders.base.contract import ScriptContract

VALID: dict[str, Any] = {
    "entry_point": "job.py",
    "expected_input_paths": {"data": "/opt/ml/processing/input/data"},
    "expected_output_paths": {"result": "/opt/ml/processing/output/result"},
    "required_env_vars": ("MODE",),
    "optional_env_vars": {"LIMIT": "10"},
    "expected_arguments": {"--job_type": "train", "--input": "/opt/ml/processing/input/data"},
}


def test_valid_contract_lists_its_variables() -> None:
    contract = ScriptContract(**VALID)
    assert contract.env_var_names == ("MODE", "LIMIT")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"entry_point": "scripts/job.py"}, "without directories"),
        ({"entry_point": "job.sh"}, "without directories"),
        ({"expected_input_paths": {"data": "/tmp/data"}}, "under /opt/ml/processing/"),
        ({"expected_input_paths": {"data": "/opt/ml/processing/input/../x"}}, "normalized"),
        ({"expected_input_paths": {"data-set": "/opt/ml/processing/input/d"}}, "identifier"),
        ({"expected_input_paths": {"code": "/opt/ml/processing/input/src"}}, "processor channel"),
        ({"expected_input_paths": {"deps": "/opt/ml/processing/input/py-files"}}, "channel"),
        ({"expected_output_paths": {"result": "/opt/ml/model"}}, "under /opt/ml/processing/"),
        (
            {"expected_output_paths": {"data": "/opt/ml/processing/output/data"}},
            "an input and an output",
        ),
        (
            {"expected_output_paths": {"result": "/opt/ml/processing/input/data/out"}},
            "overlap",
        ),
        ({"required_env_vars": ("mode",)}, "UPPER_SNAKE_CASE"),
        ({"optional_env_vars": {"limit": "1"}}, "UPPER_SNAKE_CASE"),
        ({"optional_env_vars": {"MODE": "a"}}, "both required and optional"),
        ({"expected_arguments": {"job_type": "x"}}, "long flag"),
        ({"unexpected": 1}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_contract_is_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ScriptContract(**{**VALID, **change})


def test_contract_is_immutable() -> None:
    contract = ScriptContract(**VALID)
    with pytest.raises(ValueError, match="frozen"):
        contract.entry_point = "other.py"  # type: ignore[misc]
