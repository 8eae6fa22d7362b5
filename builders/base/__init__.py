"""Contract, specification, config and builder base classes shared by step builders."""

from builders.base.config import ProcessingStepConfigBase, StepConfigBase
from builders.base.contract import ScriptContract
from builders.base.errors import BuilderError, DependencyResolutionError, SpecificationError
from builders.base.resolver import attach_spec, resolve_dependencies, spec_of
from builders.base.spec import (
    DependencySpec,
    DependencyType,
    NodeType,
    OutputSpec,
    StepSpecification,
    contract_mismatches,
)

__all__ = [
    "BuilderError",
    "DependencyResolutionError",
    "DependencySpec",
    "DependencyType",
    "NodeType",
    "OutputSpec",
    "ProcessingStepConfigBase",
    "ScriptContract",
    "SpecificationError",
    "StepConfigBase",
    "StepSpecification",
    "attach_spec",
    "contract_mismatches",
    "resolve_dependencies",
    "spec_of",
]
