"""StepBuilderBase: turns a config, a specification and its contract into a pipeline step.

The base does the spec-driven part every processing step shares: inputs from explicit values
and from upstream steps, outputs with default destinations, container paths from the
contract, the cache config. A subclass adds its processor and job arguments.

The constructor takes cursus's arguments, `(config, sagemaker_session, role, registry_manager,
dependency_resolver)`, so a cursus pipeline can construct the builder unchanged.
"""

from __future__ import annotations

import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from builders import sdk
from builders.base.config import ProcessingStepConfigBase, check_role_arn
from builders.base.contract import ScriptContract
from builders.base.errors import BuilderError, DependencyResolutionError
from builders.base.resolver import (
    attach_spec,
    resolve_dependency,
    spec_of,
    step_name,
    unresolved_error,
)
from builders.base.spec import StepSpecification

ConfigT = TypeVar("ConfigT", bound=ProcessingStepConfigBase)
# An S3 URI, a local path (uploaded by the SDK), or a pipeline variable such as a step property.
Source = Any
log = logging.getLogger(__name__)


class StepBuilderBase(ABC, Generic[ConfigT]):
    spec: ClassVar[StepSpecification]
    config_class: ClassVar[type[ProcessingStepConfigBase]] = ProcessingStepConfigBase

    def __init__(
        self,
        config: ConfigT,
        sagemaker_session: sdk.PipelineSession | None = None,
        role: str | None = None,
        registry_manager: Any = None,
        dependency_resolver: Any = None,
        *,
        staging_dir: Path | None = None,
    ) -> None:
        """`role` overrides config.role for the processing job. cursus's `registry_manager` and
        `dependency_resolver` are accepted and not used: inputs resolve from the specifications
        attached to the upstream steps. `staging_dir` is where the step's code is staged."""
        if not isinstance(config, self.config_class):
            raise BuilderError(
                f"{type(self).__name__} requires a {self.config_class.__name__}, "
                f"not {type(config).__name__}"
            )
        if role is not None:
            try:
                check_role_arn(role)
            except ValueError as exc:
                raise BuilderError(str(exc)) from None
        for name, value in (
            ("registry_manager", registry_manager),
            ("dependency_resolver", dependency_resolver),
        ):
            if value is not None:
                log.warning(
                    "%s: %s is not used; inputs resolve from the upstream steps' attached "
                    "specifications (or come from inputs=)",
                    type(self).__name__,
                    name,
                )
        self.config = config
        self.role = role or config.role
        self._session = sagemaker_session
        self.staging_dir = staging_dir

    @property
    def contract(self) -> ScriptContract:
        if self.spec.script_contract is None:
            raise BuilderError(f"{self.spec.step_type}: the specification has no script contract")
        return self.spec.script_contract

    @property
    def session(self) -> sdk.PipelineSession:
        """The given PipelineSession, else one pinned to the config's region and bucket."""
        if self._session is None:
            self._session = sdk.pipeline_session(self.config.aws_region, self.config.bucket)
        region = self._session.boto_region_name
        if region != self.config.aws_region:
            # The image URI and the S3 paths are regional; a mismatch fails only at run time.
            raise BuilderError(
                f"session region {region!r} differs from config region {self.config.region!r}"
                + (
                    ""
                    if self.config.aws_region == self.config.region
                    else f" ({self.config.aws_region})"
                )
            )
        return self._session

    @property
    def step_name(self) -> str:
        return self.config.step_name or self.spec.step_type

    @property
    def base_job_name(self) -> str:
        # Job names allow hyphens only, where step names also allow underscores.
        return re.sub(r"[^A-Za-z0-9-]+", "-", self.step_name).strip("-")[:63]

    def collect_inputs(
        self, inputs: Mapping[str, Source] | None, dependencies: Sequence[Any]
    ) -> dict[str, Source]:
        """Explicit inputs, then upstream outputs for the rest; every required one present.

        As in cursus, taking inputs from the dependencies is best effort: an upstream step
        without an attached specification, or one whose outputs fit ambiguously or cannot be
        read, is skipped with a warning, and its inputs are left to `inputs=`. A required input
        that is then still missing is an error that says what was searched.
        """
        explicit = dict(inputs or {})
        unknown = sorted(set(explicit) - set(self.spec.dependencies))
        if unknown:
            raise BuilderError(
                f"{self.spec.step_type}: unknown inputs {unknown}; expected "
                f"{sorted(self.spec.dependencies)}"
            )
        wanted = [d for n, d in self.spec.dependencies.items() if explicit.get(n) is None]
        resolved: dict[str, Source] = {}
        problems: dict[str, Exception] = {}
        for dependency in wanted if dependencies else ():
            try:
                value = resolve_dependency(dependency, dependencies)
            # A specification attached by another framework may not read the way ours does.
            except (ValueError, AttributeError, KeyError, TypeError) as exc:
                problems[dependency.logical_name] = exc
                log.warning(
                    "%s: input %r not taken from the dependencies: %s; give it in inputs=",
                    self.step_name,
                    dependency.logical_name,
                    exc,
                )
                continue
            if value is not None:
                resolved[dependency.logical_name] = value
        merged = {**resolved, **explicit}
        missing = [d for d in self.spec.required_dependencies if merged.get(d.logical_name) is None]
        if missing:
            first = missing[0]
            problem = problems.get(first.logical_name)
            if isinstance(problem, DependencyResolutionError):
                raise DependencyResolutionError(f"{self.spec.step_type}: {problem}")
            unspecified = [step_name(s) for s in dependencies if spec_of(s) is None]
            if unspecified:
                log.warning(
                    "%s: input %r not taken from the dependencies: no specification attached "
                    "to %s; give it in inputs=",
                    self.step_name,
                    first.logical_name,
                    ", ".join(unspecified),
                )
            reason = f"{type(problem).__name__}: {problem}" if problem else None
            raise unresolved_error(self.spec, first, dependencies, reason)
        # Spec order, so the definition does not depend on how the caller ordered a dict.
        return {n: merged[n] for n in self.spec.dependencies if merged.get(n) is not None}

    def collect_outputs(self, outputs: Mapping[str, Source] | None) -> dict[str, Source]:
        """Given destinations, else `<pipeline base>/<execution id>/<step>/<output>`."""
        given = dict(outputs or {})
        unknown = sorted(set(given) - set(self.spec.outputs))
        if unknown:
            raise BuilderError(
                f"{self.spec.step_type}: unknown outputs {unknown}; expected "
                f"{sorted(self.spec.outputs)}"
            )
        return {
            n: given[n] if given.get(n) is not None else self.default_output(n)
            for n in self.spec.outputs
        }

    def default_output(self, logical_name: str) -> Source:
        # The execution id keeps runs from mixing files under one prefix. Processing caching
        # keys on AppSpecification, Environment and ProcessingInputs, not on output URIs, so
        # a cache hit still returns the earlier run's (intact) prefix.
        return sdk.Join(
            on="/",
            values=[
                self.config.pipeline_s3_loc,
                sdk.ExecutionVariables.PIPELINE_EXECUTION_ID,
                self.step_name,
                logical_name,
            ],
        )

    def processing_inputs(self, sources: Mapping[str, Source]) -> list[sdk.ProcessingInput]:
        paths = self.contract.expected_input_paths
        return [
            sdk.ProcessingInput(source=source, destination=paths[name], input_name=name)
            for name, source in sources.items()
        ]

    def processing_outputs(self, destinations: Mapping[str, Source]) -> list[sdk.ProcessingOutput]:
        paths = self.contract.expected_output_paths
        return [
            sdk.ProcessingOutput(source=paths[name], destination=destination, output_name=name)
            for name, destination in destinations.items()
        ]

    def cache_config(self, enable_caching: bool) -> sdk.CacheConfig:
        return sdk.CacheConfig(
            enable_caching=enable_caching, expire_after=self.config.cache_expire_after
        )

    def finish(self, step: sdk.ProcessingStep) -> sdk.ProcessingStep:
        """Attach the specification, so downstream builders can resolve against this step."""
        attach_spec(step, self.spec)
        return step

    @abstractmethod
    def create_step(
        self,
        *,
        inputs: Mapping[str, Source] | None = None,
        outputs: Mapping[str, Source] | None = None,
        dependencies: Sequence[Any] = (),
        enable_caching: bool = True,
    ) -> sdk.ProcessingStep: ...
