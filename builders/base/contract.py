"""ScriptContract: what a processing script expects from its container, checked when declared."""

from __future__ import annotations

import posixpath
import re
from itertools import combinations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

PROCESSING_ROOT = "/opt/ml/processing/"
# Channels the SageMaker processors add themselves (script code, Spark dependencies and
# configuration): a contract input with one of these names or paths would be overwritten.
RESERVED_INPUT_NAMES: tuple[str, ...] = ("code", "conf", "py-files", "jars", "files")
RESERVED_INPUT_PATHS: tuple[str, ...] = tuple(
    PROCESSING_ROOT + "input/" + name for name in RESERVED_INPUT_NAMES
)

_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
_LOGICAL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def _check_container_path(name: str, path: str) -> None:
    if not _LOGICAL_NAME.match(name):
        raise ValueError(f"logical name {name!r} must be an identifier")
    if not path.startswith(PROCESSING_ROOT) or posixpath.normpath(path) != path:
        raise ValueError(
            f"container path {path!r} of {name!r} must be a normalized path under {PROCESSING_ROOT}"
        )


class ScriptContract(BaseModel):
    """The entry point, container paths, environment and arguments of one processing script."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    entry_point: str = Field(description="file name of the script inside the code channel")
    expected_input_paths: dict[str, str] = Field(default_factory=dict)
    expected_output_paths: dict[str, str] = Field(default_factory=dict)
    required_env_vars: tuple[str, ...] = ()
    optional_env_vars: dict[str, str] = Field(
        default_factory=dict, description="variable name -> the default the script applies"
    )
    expected_arguments: dict[str, str | None] = Field(
        default_factory=dict, description="flag -> the script's default (None: no default)"
    )
    framework_requirements: dict[str, str] = Field(default_factory=dict)
    description: str = ""

    @field_validator("entry_point")
    @classmethod
    def _entry_point_is_a_file_name(cls, value: str) -> str:
        if "/" in value or not value.endswith(".py") or value == ".py":
            raise ValueError(f"entry_point {value!r} must be a .py file name without directories")
        return value

    @field_validator("expected_input_paths")
    @classmethod
    def _inputs_are_container_paths(cls, value: dict[str, str]) -> dict[str, str]:
        for name, path in value.items():
            _check_container_path(name, path)
            if name in RESERVED_INPUT_NAMES or path in RESERVED_INPUT_PATHS:
                raise ValueError(f"input {name!r} ({path}) collides with a processor channel")
        return value

    @field_validator("expected_output_paths")
    @classmethod
    def _outputs_are_container_paths(cls, value: dict[str, str]) -> dict[str, str]:
        for name, path in value.items():
            _check_container_path(name, path)
        return value

    @field_validator("required_env_vars")
    @classmethod
    def _required_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if not _ENV_NAME.match(name):
                raise ValueError(f"environment variable {name!r} must be UPPER_SNAKE_CASE")
        return value

    @field_validator("optional_env_vars")
    @classmethod
    def _optional_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not _ENV_NAME.match(name):
                raise ValueError(f"environment variable {name!r} must be UPPER_SNAKE_CASE")
        return value

    @field_validator("expected_arguments")
    @classmethod
    def _arguments_are_flags(cls, value: dict[str, str | None]) -> dict[str, str | None]:
        for flag in value:
            if not re.match(r"^--[a-z][a-z0-9_-]*$", flag):
                raise ValueError(f"argument {flag!r} must be a long flag such as --job_type")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ScriptContract:
        both = set(self.required_env_vars) & set(self.optional_env_vars)
        if both:
            raise ValueError(f"variables both required and optional: {sorted(both)}")
        shared = set(self.expected_input_paths) & set(self.expected_output_paths)
        if shared:
            raise ValueError(f"logical names used for an input and an output: {sorted(shared)}")
        # Nested paths would make one channel's download land inside another's upload.
        paths = [*self.expected_input_paths.values(), *self.expected_output_paths.values()]
        for a, b in combinations(paths, 2):
            if a == b or a.startswith(b + "/") or b.startswith(a + "/"):
                raise ValueError(f"container paths {a!r} and {b!r} overlap")
        return self

    @property
    def env_var_names(self) -> tuple[str, ...]:
        return (*self.required_env_vars, *self.optional_env_vars)
