from __future__ import annotations

from typing import Any

import pytest

from builders.base.contract import ScriptContract
from builders.base.errors import SpecificationError
from builders.base.spec import (
    DependencySpec,
    DependencyType,
    NodeType,
    OutputSpec,
    StepSpecification,
    contract_mismatches,
    parse_property_path,
)

PATH = "properties.ProcessingOutputConfig.Outputs['{}'].S3Output.S3Uri"


def dependency(name: str = "data", **kw: Any) -> DependencySpec:
    return DependencySpec(logical_name=name, dependency_type=DependencyType.PROCESSING_OUTPUT, **kw)


def output(name: str = "result", **kw: Any) -> OutputSpec:
    return OutputSpec(logical_name=name, property_path=PATH.format(name), **kw)


CONTRACT = ScriptContract(
    entry_point="job.py",
    expected_input_paths={"data": "/opt/ml/processing/input/data"},
    expected_output_paths={"result": "/opt/ml/processing/output/result"},
)


def test_property_path_parses_attributes_and_keys() -> None:
    assert parse_property_path("properties.A.B['k'][0][\"q\"]") == (
        ("attr", "A"),
        ("attr", "B"),
        ("key", "k"),
        ("key", 0),
        ("key", "q"),
    )


@pytest.mark.parametrize(
    "path", ["ProcessingOutputConfig.Outputs", "properties", "properties.A..B", "properties.A['x"]
)
def test_malformed_property_path_is_refused(path: str) -> None:
    with pytest.raises(SpecificationError):
        parse_property_path(path)


def test_internal_spec_with_agreeing_contract() -> None:
    spec = StepSpecification(
        step_type="Thing",
        node_type=NodeType.INTERNAL,
        dependencies={"data": dependency()},
        outputs={"result": output(aliases=("out",))},
        script_contract=CONTRACT,
    )
    assert spec.outputs["result"].names == ("result", "out")
    assert [d.logical_name for d in spec.required_dependencies] == ["data"]


@pytest.mark.parametrize(
    ("node_type", "deps", "outs"),
    [
        (NodeType.SOURCE, True, True),
        (NodeType.INTERNAL, False, True),
        (NodeType.INTERNAL, True, False),
        (NodeType.SINK, True, True),
        (NodeType.SINGULAR, False, True),
    ],
)
def test_node_type_decides_dependencies_and_outputs(
    node_type: NodeType, deps: bool, outs: bool
) -> None:
    with pytest.raises(ValueError, match=f"a {node_type} node"):
        StepSpecification(
            step_type="Thing",
            node_type=node_type,
            dependencies={"data": dependency()} if deps else {},
            outputs={"result": output()} if outs else {},
        )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dependencies": {"other": dependency()}}, "differs from its logical_name"),
        ({"outputs": {"other": output()}}, "differs from its logical_name"),
        (
            {"outputs": {"result": output(aliases=("x",)), "more": output("more", aliases=("x",))}},
            "names both",
        ),
        ({"outputs": {"result": output(aliases=("more",)), "more": output("more")}}, "names both"),
    ],
)
def test_ambiguous_or_inconsistent_spec_is_refused(kwargs: dict[str, Any], message: str) -> None:
    fields: dict[str, Any] = {
        "dependencies": {"data": dependency()},
        "outputs": {"result": output()},
    }
    with pytest.raises(ValueError, match=message):
        StepSpecification(step_type="Thing", node_type=NodeType.INTERNAL, **{**fields, **kwargs})


def test_unknown_data_type_is_refused() -> None:
    with pytest.raises(ValueError, match="data_type"):
        dependency(data_type="Bytes")
    with pytest.raises(ValueError, match="data_type"):
        output(data_type="Bytes")


def test_contract_mismatches_name_every_difference() -> None:
    spec = StepSpecification(
        step_type="Thing",
        node_type=NodeType.INTERNAL,
        dependencies={"data": dependency(), "extra": dependency("extra", required=False)},
        outputs={
            "result": OutputSpec(logical_name="result", property_path=PATH.format("elsewhere")),
            "report": output("report"),
        },
    )
    contract = CONTRACT.model_copy(
        update={
            "expected_input_paths": {
                "data": "/opt/ml/processing/input/data",
                "more": "/opt/ml/processing/input/more",
            }
        }
    )
    assert contract_mismatches(spec, contract) == [
        "dependency 'extra' has no container path",
        "contract input 'more' has no dependency",
        "output 'report' has no container path",
        "property path of 'result' reads another channel",
    ]


def test_spec_refuses_a_disagreeing_contract() -> None:
    with pytest.raises(ValueError, match="specification and contract disagree"):
        StepSpecification(
            step_type="Thing",
            node_type=NodeType.INTERNAL,
            dependencies={"data": dependency()},
            outputs={"report": output("report")},
            script_contract=CONTRACT,
        )
