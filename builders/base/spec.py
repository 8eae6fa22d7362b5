"""StepSpecification: a step's typed inputs and outputs, what dependency resolution matches."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from builders.base.contract import ScriptContract
from builders.base.errors import SpecificationError


class NodeType(StrEnum):
    """Where a step sits in a DAG; decides whether it must declare dependencies and outputs."""

    SOURCE = "source"  # outputs only
    INTERNAL = "internal"  # dependencies and outputs
    SINK = "sink"  # dependencies only
    SINGULAR = "singular"  # neither


class DependencyType(StrEnum):
    MODEL_ARTIFACTS = "model_artifacts"
    PROCESSING_OUTPUT = "processing_output"
    TRAINING_DATA = "training_data"
    HYPERPARAMETERS = "hyperparameters"
    PAYLOAD_SAMPLES = "payload_samples"
    CUSTOM_PROPERTY = "custom_property"


DATA_TYPES: tuple[str, ...] = ("S3Uri", "String", "Integer", "Float", "Boolean")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# One step of a property path: `.Attribute`, `['key']`, `["key"]` or `[0]`.
_PATH_TOKEN = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\['([^']+)'\]|\[\"([^\"]+)\"\]|\[(\d+)\]")


PropertyStep = tuple[Literal["attr", "key"], str | int]


def parse_property_path(path: str) -> tuple[PropertyStep, ...]:
    """`properties.A['k'][0]` -> (("attr", "A"), ("key", "k"), ("key", 0))."""
    prefix = "properties"
    if not path.startswith(prefix):
        raise SpecificationError(f"property path {path!r} must start with 'properties'")
    tokens: list[PropertyStep] = []
    position = len(prefix)
    while position < len(path):
        match = _PATH_TOKEN.match(path, position)
        if match is None:
            raise SpecificationError(f"property path {path!r} is malformed at {path[position:]!r}")
        attribute, single, double, index = match.groups()
        if attribute is not None:
            tokens.append(("attr", attribute))
        else:
            tokens.append(("key", int(index) if index is not None else single or double))
        position = match.end()
    if not tokens:
        raise SpecificationError(f"property path {path!r} names no property")
    return tuple(tokens)


class _Port(BaseModel):
    """What dependencies and outputs share: a name and a data type, both validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Subclasses declare the fields, so each keeps its own field order.
    @field_validator("logical_name", check_fields=False)
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"logical_name {value!r} must be an identifier")
        return value

    @field_validator("data_type", check_fields=False)
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in DATA_TYPES:
            raise ValueError(f"data_type {value!r} is not one of {', '.join(DATA_TYPES)}")
        return value


class DependencySpec(_Port):
    logical_name: str
    dependency_type: DependencyType
    required: bool = True
    compatible_sources: tuple[str, ...] = ()
    semantic_keywords: tuple[str, ...] = ()
    data_type: str = "S3Uri"
    description: str = ""


class OutputSpec(_Port):
    logical_name: str
    output_type: DependencyType = DependencyType.PROCESSING_OUTPUT
    property_path: str
    aliases: tuple[str, ...] = ()
    data_type: str = "S3Uri"
    description: str = ""

    @field_validator("property_path")
    @classmethod
    def _parsable(cls, value: str) -> str:
        parse_property_path(value)
        return value

    @property
    def names(self) -> tuple[str, ...]:
        """The logical name followed by the aliases: every name a consumer may ask for."""
        return (self.logical_name, *self.aliases)


class StepSpecification(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    step_type: str
    node_type: NodeType
    dependencies: dict[str, DependencySpec] = Field(default_factory=dict)
    outputs: dict[str, OutputSpec] = Field(default_factory=dict)
    script_contract: ScriptContract | None = None

    @model_validator(mode="after")
    def _well_formed(self) -> StepSpecification:
        for key, dep in self.dependencies.items():
            if key != dep.logical_name:
                raise ValueError(f"dependency key {key!r} differs from its logical_name")
        for key, out in self.outputs.items():
            if key != out.logical_name:
                raise ValueError(f"output key {key!r} differs from its logical_name")
        has_deps, has_outputs = bool(self.dependencies), bool(self.outputs)
        expected = {
            NodeType.SOURCE: (False, True),
            NodeType.INTERNAL: (True, True),
            NodeType.SINK: (True, False),
            NodeType.SINGULAR: (False, False),
        }[self.node_type]
        if (has_deps, has_outputs) != expected:
            raise ValueError(
                f"a {self.node_type} node has dependencies={expected[0]} and outputs={expected[1]}"
            )
        # An alias that names two outputs would make resolution depend on dict order.
        seen: dict[str, str] = {}
        for out in self.outputs.values():
            for name in out.names:
                if name in seen and seen[name] != out.logical_name:
                    raise ValueError(f"{name!r} names both {seen[name]!r} and {out.logical_name!r}")
                seen[name] = out.logical_name
        if self.script_contract is not None:
            problems = contract_mismatches(self, self.script_contract)
            if problems:
                raise ValueError("specification and contract disagree: " + "; ".join(problems))
        return self

    @property
    def required_dependencies(self) -> tuple[DependencySpec, ...]:
        return tuple(d for d in self.dependencies.values() if d.required)


def contract_mismatches(spec: StepSpecification, contract: ScriptContract) -> list[str]:
    """Every way the specification's channels and the contract's container paths differ."""
    problems: list[str] = []
    deps, inputs = set(spec.dependencies), set(contract.expected_input_paths)
    outs, outputs = set(spec.outputs), set(contract.expected_output_paths)
    problems += [f"dependency {n!r} has no container path" for n in sorted(deps - inputs)]
    problems += [f"contract input {n!r} has no dependency" for n in sorted(inputs - deps)]
    problems += [f"output {n!r} has no container path" for n in sorted(outs - outputs)]
    problems += [f"contract output {n!r} has no output spec" for n in sorted(outputs - outs)]
    for out in spec.outputs.values():
        # A processing output's property must read back the channel of the same name.
        if out.output_type is DependencyType.PROCESSING_OUTPUT and out.logical_name in outputs:
            keys = [
                value for kind, value in parse_property_path(out.property_path) if kind == "key"
            ]
            if out.logical_name not in keys:
                problems.append(f"property path of {out.logical_name!r} reads another channel")
    return problems
