from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from builders.base.errors import DependencyResolutionError
from builders.base.resolver import (
    match_score,
    resolve_dependencies,
    resolve_property,
    spec_of,
    unresolved_error,
)
from builders.base.spec import (
    DependencySpec,
    DependencyType,
    NodeType,
    OutputSpec,
    StepSpecification,
)
from tests.builders.helpers import output_expr, upstream_step

PREDICTIONS = DependencySpec(
    logical_name="predictions",
    dependency_type=DependencyType.PROCESSING_OUTPUT,
    compatible_sources=("Inference",),
    semantic_keywords=("eval_output", "scores"),
)
LABELS = DependencySpec(
    logical_name="labels",
    dependency_type=DependencyType.PROCESSING_OUTPUT,
    required=False,
    semantic_keywords=("labeled_data",),
)
CONSUMER = StepSpecification(
    step_type="Consumer",
    node_type=NodeType.SINK,
    dependencies={"predictions": PREDICTIONS, "labels": LABELS},
)


def out(name: str, *aliases: str, data_type: str = "S3Uri") -> OutputSpec:
    return OutputSpec(
        logical_name=name,
        property_path=f"properties.ProcessingOutputConfig.Outputs['{name}'].S3Output.S3Uri",
        aliases=aliases,
        data_type=data_type,
    )


@pytest.mark.parametrize(
    ("source_type", "output", "score"),
    [
        ("Inference", out("predictions"), 1.0),
        ("Other", out("predictions"), 0.5),
        ("Other", out("result", "PREDICTIONS"), 0.5),
        ("Inference", out("eval_output"), 0.8),
        ("Other", out("eval_output"), 0.3),
        ("Inference", out("metrics"), 0.0),
        ("Inference", out("predictions", data_type="String"), 0.0),
    ],
)
def test_match_score(source_type: str, output: OutputSpec, score: float) -> None:
    assert match_score(PREDICTIONS, source_type, output) == pytest.approx(score)


def test_resolves_from_a_compatible_step_by_keyword(session: Any) -> None:
    inference = upstream_step(session, "Inference", "Inference", {"eval_output": (), "metrics": ()})
    resolved = resolve_dependencies(CONSUMER, [inference])
    assert list(resolved) == ["predictions"]
    assert resolved["predictions"].expr == output_expr("Inference", "eval_output")


def test_exact_name_beats_keyword_and_steps_without_spec_are_ignored(session: Any) -> None:
    keyword = upstream_step(session, "A", "Inference", {"eval_output": ()})
    named = upstream_step(session, "B", "Inference", {"result": ("predictions",)})
    plain = SimpleNamespace(name="NoSpec")
    resolved = resolve_dependencies(CONSUMER, [plain, keyword, named])
    assert resolved["predictions"].expr == output_expr("B", "result")


def test_keyword_from_an_unknown_step_type_does_not_resolve(session: Any) -> None:
    other = upstream_step(session, "Other", "Preprocessing", {"eval_output": ()})
    assert resolve_dependencies(CONSUMER, [other]) == {}


def test_tie_is_an_error_not_a_guess(session: Any) -> None:
    a = upstream_step(session, "A", "Inference", {"eval_output": ()})
    b = upstream_step(session, "B", "Inference", {"scores": ()})
    with pytest.raises(
        DependencyResolutionError, match=r"several upstream outputs.*A\.eval_output"
    ):
        resolve_dependencies(CONSUMER, [a, b])
    # ... unless the caller named the input, which then needs no resolution.
    assert resolve_dependencies(CONSUMER, [a, b], skip={"predictions"}) == {}


def test_resolve_property_walks_the_path(session: Any) -> None:
    step = upstream_step(session, "Inference", "Inference", {"eval_output": ()})
    path = "properties.ProcessingOutputConfig.Outputs['eval_output'].S3Output.S3Uri"
    assert resolve_property(step, path).expr == output_expr("Inference", "eval_output")
    assert spec_of(step) is not None
    assert spec_of(SimpleNamespace(_spec="not a spec")) is None


def test_unresolved_error_says_what_was_searched_and_how_to_fix(session: Any) -> None:
    step = upstream_step(session, "Prep", "Preprocessing", {"processed": ()})
    message = str(unresolved_error(CONSUMER, PREDICTIONS, [step, SimpleNamespace(name="Raw")]))
    assert "required input 'predictions' is not resolved" in message
    assert "inputs={'predictions':" in message
    assert "Prep (Preprocessing: processed)" in message
    assert "Raw (no specification attached)" in message
    assert "'eval_output'" in message and "'Inference'" in message
