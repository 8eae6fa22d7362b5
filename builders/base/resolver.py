"""Fill a step's inputs from the outputs its upstream steps declare in their attached specs.

An upstream step qualifies when a builder attached its specification (`attach_spec`); the
attribute is `_spec`, the name other spec-driven builders use, and any object with `step_type`
and `outputs` (each with `logical_name`, `aliases`, `property_path`, `data_type`) is accepted.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from builders.base.errors import DependencyResolutionError
from builders.base.spec import DependencySpec, StepSpecification, parse_property_path

SPEC_ATTRIBUTE = "_spec"
# A name match alone (0.5) or a keyword match from a compatible source (0.8) resolves; a
# keyword match from an unknown step type (0.3) does not, since keywords are deliberately broad.
MIN_SCORE = 0.5
_NAME_WEIGHT = 0.5
_SOURCE_WEIGHT = 0.5
_KEYWORD_FACTOR = 0.6


class OutputLike(Protocol):
    @property
    def logical_name(self) -> str: ...
    @property
    def aliases(self) -> Sequence[str]: ...
    @property
    def property_path(self) -> str: ...
    @property
    def data_type(self) -> str: ...


class SpecLike(Protocol):
    @property
    def step_type(self) -> str: ...
    @property
    def outputs(self) -> Mapping[str, OutputLike]: ...


@dataclass(frozen=True)
class Candidate:
    step: Any
    output: OutputLike
    score: float

    @property
    def label(self) -> str:
        return f"{step_name(self.step)}.{self.output.logical_name}"


def attach_spec(step: object, spec: StepSpecification) -> None:
    setattr(step, SPEC_ATTRIBUTE, spec)


def spec_of(step: object) -> SpecLike | None:
    spec = getattr(step, SPEC_ATTRIBUTE, None)
    return spec if hasattr(spec, "outputs") and hasattr(spec, "step_type") else None


def step_name(step: object) -> str:
    return str(getattr(step, "name", type(step).__name__))


def resolve_property(step: object, property_path: str) -> Any:
    """The step's property object at `property_path`, e.g. a ProcessingOutput's S3Uri."""
    value: Any = step.properties  # type: ignore[attr-defined]
    for kind, token in parse_property_path(property_path):
        value = getattr(value, str(token)) if kind == "attr" else value[token]
    return value


def match_score(dependency: DependencySpec, source_type: str, output: OutputLike) -> float:
    """How well one upstream output fits one dependency, in [0, 1]; 0 when it cannot."""
    if output.data_type != dependency.data_type:
        return 0.0
    names = {output.logical_name.lower(), *(alias.lower() for alias in output.aliases)}
    if dependency.logical_name.lower() in names:
        name_score = 1.0
    elif any(keyword.lower() in names for keyword in dependency.semantic_keywords):
        name_score = _KEYWORD_FACTOR
    else:
        return 0.0
    source_score = 1.0 if source_type in dependency.compatible_sources else 0.0
    return _NAME_WEIGHT * name_score + _SOURCE_WEIGHT * source_score


def candidates(dependency: DependencySpec, steps: Sequence[object]) -> list[Candidate]:
    found: list[Candidate] = []
    for step in steps:
        spec = spec_of(step)
        if spec is None:
            continue
        for output in spec.outputs.values():
            score = match_score(dependency, spec.step_type, output)
            if score >= MIN_SCORE:
                found.append(Candidate(step, output, score))
    return found


def resolve_dependency(dependency: DependencySpec, steps: Sequence[object]) -> Any | None:
    """The upstream property that fills `dependency`, or None when no output fits.

    The best-scoring output wins; a tie between different outputs is an error rather than a
    guess, because a silently wrong input is worse than asking for `inputs=`.
    """
    found = candidates(dependency, steps)
    if not found:
        return None
    best = max(c.score for c in found)
    top = [c for c in found if c.score == best]
    if len(top) > 1:
        labels = ", ".join(c.label for c in top)
        raise DependencyResolutionError(
            f"input {dependency.logical_name!r} matches several upstream outputs equally well "
            f"({labels}); pass inputs={{{dependency.logical_name!r}: ...}}"
        )
    return resolve_property(top[0].step, top[0].output.property_path)


def resolve_dependencies(
    spec: StepSpecification, steps: Sequence[object], skip: Collection[str] = ()
) -> dict[str, Any]:
    """logical name -> upstream property for every dependency in `spec` not named in `skip`."""
    resolved: dict[str, Any] = {}
    for dependency in spec.dependencies.values():
        if dependency.logical_name in skip:
            continue
        try:
            value = resolve_dependency(dependency, steps)
        except DependencyResolutionError as exc:
            raise DependencyResolutionError(f"{spec.step_type}: {exc}") from None
        if value is not None:
            resolved[dependency.logical_name] = value
    return resolved


def unresolved_error(
    spec: StepSpecification,
    dependency: DependencySpec,
    steps: Sequence[object],
    reason: str | None = None,
) -> DependencyResolutionError:
    """An error that says what was needed, what was searched and how to fix it."""
    searched = []
    for step in steps:
        upstream = spec_of(step)
        if upstream is None:
            searched.append(f"{step_name(step)} (no specification attached)")
        else:
            outputs = ", ".join(upstream.outputs) or "no outputs"
            searched.append(f"{step_name(step)} ({upstream.step_type}: {outputs})")
    ways = [f"an output named {dependency.logical_name!r} (or aliased so)"]
    if dependency.semantic_keywords and dependency.compatible_sources:
        ways.append(
            f"an output named one of {list(dependency.semantic_keywords)} from a step of type "
            f"{list(dependency.compatible_sources)}"
        )
    why = f" ({reason})" if reason else ""
    return DependencyResolutionError(
        f"{spec.step_type}: required input {dependency.logical_name!r} is not resolved{why}. "
        f"Pass inputs={{{dependency.logical_name!r}: <S3 URI or step property>}}, or a "
        f"dependency whose attached specification has {' or '.join(ways)}. "
        f"Searched: {'; '.join(searched) or 'no dependencies'}."
    )
