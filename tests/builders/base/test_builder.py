from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any

import pytest

from builders import sdk
from builders.base.builder import StepBuilderBase
from builders.base.config import ProcessingStepConfigBase
from builders.base.contract import ScriptContract
from builders.base.errors import BuilderError, DependencyResolutionError
from builders.base.resolver import spec_of
from builders.base.spec import (
    DependencySpec,
    DependencyType,
    NodeType,
    OutputSpec,
    StepSpecification,
)
from tests.builders.helpers import BASE_FIELDS, ROLE, definition, output_expr, upstream_step

SPEC = StepSpecification(
    step_type="Scoring",
    node_type=NodeType.INTERNAL,
    dependencies={
        name: DependencySpec(
            logical_name=name,
            dependency_type=DependencyType.PROCESSING_OUTPUT,
            required=name == "data",
            compatible_sources=("Inference",),
            semantic_keywords=("eval_output",) if name == "data" else (),
        )
        for name in ("data", "extra")
    },
    outputs={
        "scores": OutputSpec(
            logical_name="scores",
            property_path="properties.ProcessingOutputConfig.Outputs['scores'].S3Output.S3Uri",
        )
    },
    script_contract=ScriptContract(
        entry_point="score.py",
        expected_input_paths={
            "data": "/opt/ml/processing/input/data",
            "extra": "/opt/ml/processing/input/extra",
        },
        expected_output_paths={"scores": "/opt/ml/processing/output/scores"},
    ),
)


class ExampleStepConfig(ProcessingStepConfigBase):
    threshold: float = 0.5


class ScoringBuilder(StepBuilderBase[ProcessingStepConfigBase]):
    spec = SPEC

    def create_step(
        self,
        *,
        inputs: Mapping[str, Any] | None = None,
        outputs: Mapping[str, Any] | None = None,
        dependencies: Sequence[Any] = (),
        enable_caching: bool = True,
    ) -> Any:
        processor = sdk.Processor(
            role=ROLE,
            image_uri="111122223333.dkr.ecr.us-east-1.amazonaws.com/scoring:1",
            instance_count=1,
            instance_type=self.config.processing_instance_type,
            sagemaker_session=self.session,
        )
        step_args = processor.run(
            inputs=self.processing_inputs(self.collect_inputs(inputs, dependencies)),
            outputs=self.processing_outputs(self.collect_outputs(outputs)),
        )
        step = sdk.ProcessingStep(
            name=self.step_name,
            step_args=step_args,
            cache_config=self.cache_config(enable_caching),
        )
        return self.finish(step)


@pytest.fixture
def builder(session: Any) -> ScoringBuilder:
    return ScoringBuilder(ProcessingStepConfigBase(**BASE_FIELDS), session)


def test_inputs_follow_spec_order_and_explicit_wins(builder: ScoringBuilder, session: Any) -> None:
    upstream = upstream_step(session, "Infer", "Inference", {"eval_output": ()})
    found = builder.collect_inputs({"extra": "s3://b/extra"}, [upstream])
    assert list(found) == ["data", "extra"]
    assert found["data"].expr == output_expr("Infer", "eval_output")
    assert builder.collect_inputs({"data": "s3://b/data"}, [upstream])["data"] == "s3://b/data"


def test_unknown_input_or_output_name_is_refused(builder: ScoringBuilder) -> None:
    with pytest.raises(BuilderError, match=r"unknown inputs \['dta'\]"):
        builder.collect_inputs({"dta": "s3://b/x"}, [])
    with pytest.raises(BuilderError, match=r"unknown outputs \['score'\]"):
        builder.collect_outputs({"score": "s3://b/x"})


def test_required_input_left_unresolved_is_a_clear_error(builder: ScoringBuilder) -> None:
    with pytest.raises(DependencyResolutionError, match="required input 'data' is not resolved"):
        builder.collect_inputs({"extra": "s3://b/extra"}, [])


def test_default_output_is_under_the_pipeline_base_path_per_execution(
    builder: ScoringBuilder,
) -> None:
    destination = builder.collect_outputs(None)["scores"]
    assert destination.expr == {
        "Std:Join": {
            "On": "/",
            "Values": [
                "s3://my-ml-bucket/selection-pipeline",
                {"Get": "Execution.PipelineExecutionId"},
                "Scoring",
                "scores",
            ],
        }
    }
    assert builder.collect_outputs({"scores": "s3://b/s"})["scores"] == "s3://b/s"


def test_step_gets_spec_cache_config_and_channels(
    builder: ScoringBuilder, session: Any, uploads: list[Any]
) -> None:
    step = builder.create_step(inputs={"data": "s3://b/data"}, enable_caching=False)
    assert spec_of(step) is SPEC
    arguments = definition(session, [step])["Steps"][0]
    assert arguments["CacheConfig"] == {"Enabled": False, "ExpireAfter": "P30D"}
    channels = arguments["Arguments"]["ProcessingInputs"]
    assert [(c["InputName"], c["S3Input"]["LocalPath"]) for c in channels] == [
        ("data", "/opt/ml/processing/input/data")
    ]


def test_session_is_created_lazily_for_the_config_region() -> None:
    builder = ScoringBuilder(ProcessingStepConfigBase(**BASE_FIELDS))
    assert builder.session.boto_region_name == "us-east-1"
    assert builder.session is builder.session


def test_session_in_another_region_is_refused() -> None:
    other = sdk.pipeline_session("eu-west-1", "my-ml-bucket")
    builder = ScoringBuilder(ProcessingStepConfigBase(**BASE_FIELDS), other)
    with pytest.raises(BuilderError, match="differs from config region"):
        _ = builder.session


def test_step_and_job_names() -> None:
    config = ProcessingStepConfigBase(**BASE_FIELDS, step_name="My_Step_1")
    builder = ScoringBuilder(config)
    assert (builder.step_name, builder.base_job_name) == ("My_Step_1", "My-Step-1")
    assert ScoringBuilder(ProcessingStepConfigBase(**BASE_FIELDS)).step_name == "Scoring"


def test_constructor_takes_cursus_arguments(caplog: pytest.LogCaptureFixture) -> None:
    config = ProcessingStepConfigBase(**BASE_FIELDS)
    other_role = "arn:aws:iam::444455556666:role/PipelineRole"
    builder = ScoringBuilder(
        config=config,
        sagemaker_session=None,
        role=other_role,
        registry_manager=object(),
        dependency_resolver=object(),
    )
    assert (builder.role, ScoringBuilder(config).role) == (other_role, ROLE)
    assert "registry_manager is not used" in caplog.text
    assert "dependency_resolver is not used" in caplog.text
    with pytest.raises(BuilderError, match="full IAM role ARN"):
        ScoringBuilder(config, role="SageMakerRole")


def test_builder_checks_its_config_type() -> None:
    class Narrow(ScoringBuilder):
        config_class = ExampleStepConfig

    with pytest.raises(BuilderError, match="Narrow requires a ExampleStepConfig, not Processing"):
        Narrow(ProcessingStepConfigBase(**BASE_FIELDS))
    assert Narrow(ExampleStepConfig(**BASE_FIELDS)).config.threshold == 0.5
    with pytest.raises(ValueError, match="requires"):
        ScoringBuilder({**BASE_FIELDS})  # type: ignore[arg-type]


def test_session_for_a_cursus_region_code() -> None:
    builder = ScoringBuilder(ProcessingStepConfigBase(**{**BASE_FIELDS, "region": "FE"}))
    assert builder.session.boto_region_name == "us-west-2"
    east = sdk.pipeline_session("us-east-1", "my-ml-bucket")
    with pytest.raises(BuilderError, match="differs from config region 'FE' \\(us-west-2\\)"):
        _ = ScoringBuilder(
            ProcessingStepConfigBase(**{**BASE_FIELDS, "region": "FE"}), east
        ).session


def test_upstream_without_a_spec_leaves_the_input_to_inputs(
    builder: ScoringBuilder, session: Any, caplog: pytest.LogCaptureFixture
) -> None:
    plain = upstream_step(session, "Plain", "Inference", {"eval_output": ()})
    del plain._spec  # a step no spec-driven builder made
    given = builder.collect_inputs({"data": "s3://b/data"}, [plain])
    assert given == {"data": "s3://b/data"}
    assert "no specification attached" not in caplog.text  # nothing was needed from it
    with pytest.raises(DependencyResolutionError, match=r"Searched: Plain \(no specification"):
        builder.collect_inputs(None, [plain])
    assert "input 'data' not taken from the dependencies: no specification attached to Plain" in (
        caplog.text
    )


def test_an_ambiguous_optional_input_is_a_warning(
    session: Any, caplog: pytest.LogCaptureFixture
) -> None:
    both = upstream_step(session, "A", "Inference", {"eval_output": (), "extra": ()})
    twin = upstream_step(session, "B", "Inference", {"extra": ()})
    found = ScoringBuilder(ProcessingStepConfigBase(**BASE_FIELDS)).collect_inputs(
        None, [both, twin]
    )
    assert list(found) == ["data"]  # 'extra' fits A and B equally: left to inputs=
    assert "input 'extra' not taken from the dependencies" in caplog.text
    assert "A.extra, B.extra" in caplog.text


def test_an_ambiguous_required_input_is_an_error(session: Any) -> None:
    a = upstream_step(session, "A", "Inference", {"eval_output": ()})
    b = upstream_step(session, "B", "Inference", {"eval_output": ()})
    builder = ScoringBuilder(ProcessingStepConfigBase(**BASE_FIELDS))
    with pytest.raises(DependencyResolutionError, match=r"Scoring: input 'data' matches several"):
        builder.collect_inputs(None, [a, b])
    assert builder.collect_inputs({"data": "s3://b/d"}, [a, b])["data"] == "s3://b/d"


def test_a_foreign_spec_that_cannot_be_read_is_skipped(
    builder: ScoringBuilder, session: Any, caplog: pytest.LogCaptureFixture
) -> None:
    step = upstream_step(session, "Foreign", "Inference", {"eval_output": ()})
    output = SimpleNamespace(
        logical_name="eval_output",
        aliases=(),
        data_type="S3Uri",
        property_path="properties.NoSuchThing",
    )
    step._spec = SimpleNamespace(step_type="Inference", outputs={"eval_output": output})
    assert builder.collect_inputs({"data": "s3://b/d"}, [step]) == {"data": "s3://b/d"}
    with pytest.raises(DependencyResolutionError, match=r"not resolved \(AttributeError"):
        builder.collect_inputs(None, [step])
    assert "input 'data' not taken from the dependencies" in caplog.text
