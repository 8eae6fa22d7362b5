"""The cursus design document's examples, run as its users would write them.

Each test holds one example of the design document (Active Sampling Step Builder Patterns):
Examples 1-3, the configuration validation examples, the use-case validation example, the cost
example and the two unit-test examples. The code is the document's with only the import paths
changed and a 12-digit account id in the role ARN; where the document elides fields
(`# Base fields...`, `# ... other fields`) the test passes the base fields of its Example 1, and
where it uses a name it never defines (`inference_step`, `model_inference_output`,
`predictions_s3_uri`, `output_s3_uri`) the test defines it first. Every deviation is marked
`# not in the document:`. Pipelines are rendered offline, with a real upstream ProcessingStep
where the example has one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest

# The document's imports, re-pointed at this project:
#   from cursus.steps.configs.config_active_sample_selection_step import ...Config
#   from cursus.steps.builders.builder_active_sample_selection_step import ...StepBuilder
from pydantic import ValidationError

from builders import ActiveSampleSelectionConfig, ActiveSampleSelectionStepBuilder, sdk
from tests.builders.helpers import output_expr

# Example 1's role has a 9-digit account id (arn:aws:iam::123456789:...); IAM's have 12.
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
# The base fields of Example 1, for the examples that elide them.
BASE_FIELDS: dict[str, Any] = {
    "author": "data-scientist",
    "bucket": "my-ml-bucket",
    "role": ROLE,
    "region": "NA",
    "service_name": "recommendation",
    "pipeline_version": "v1.0",
    "project_root_folder": "projects/recommendation",
}
SPARK_IMAGE = (
    "173754725891.dkr.ecr.us-east-1.amazonaws.com/sagemaker-spark-processing:3.5-cpu-py312-v1"
)
DERIVED_LOC = "s3://my-ml-bucket/MODS/data-scientist-recommendation-xgboost-NA_v1.0"


@pytest.fixture
def upstream_session() -> Any:
    return sdk.pipeline_session("us-east-1", "my-ml-bucket")


def inference_step_for_the_examples(session: Any) -> Any:
    """The upstream XGBoostModelInference step the examples read from: a plain ProcessingStep,
    with no specification attached (as a step built outside cursus would be)."""
    processor = sdk.Processor(
        role=ROLE,
        image_uri="683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
        instance_count=1,
        instance_type="ml.m5.xlarge",
        sagemaker_session=session,
    )
    output = sdk.ProcessingOutput(
        output_name="eval_output",
        source="/opt/ml/processing/output/eval",
        destination="s3://my-ml-bucket/inference/eval/",
    )
    return sdk.ProcessingStep(
        name="XGBoostModelInference", step_args=processor.run(outputs=[output])
    )


@contextmanager
def offline(sessions: Sequence[Any]) -> Iterator[None]:
    """No S3 and no account lookups for any of the sessions (the builders make their own)."""
    with ExitStack() as stack:
        for session in sessions:
            stack.enter_context(sdk.offline_uploads(session))
        yield


def render(name: str, steps: Sequence[Any], sessions: Sequence[Any]) -> dict[str, Any]:
    """The pipeline definition, rendered with the first session (the selection step's)."""
    with offline(sessions):
        pipeline = sdk.Pipeline(name=name, steps=list(steps), sagemaker_session=sessions[0])
        document: dict[str, Any] = json.loads(pipeline.definition())
    return document


def arguments_of(document: dict[str, Any], name: str) -> dict[str, Any]:
    (step,) = [s for s in document["Steps"] if s["Name"] == name]
    return step


def channels(arguments: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    inputs = {i["InputName"]: i["S3Input"]["S3Uri"] for i in arguments["ProcessingInputs"]}
    outputs = {
        o["OutputName"]: o["S3Output"]["S3Uri"]
        for o in arguments["ProcessingOutputConfig"]["Outputs"]
    }
    return inputs, outputs


def default_output(step: str, name: str, loc: str = DERIVED_LOC) -> dict[str, Any]:
    return {
        "Std:Join": {
            "On": "/",
            "Values": [loc, {"Get": "Execution.PipelineExecutionId"}, step, name],
        }
    }


def test_example_1_ssl_pipeline_with_confidence_threshold(upstream_session: Any) -> None:
    # not in the document: its upstream step
    inference_step = inference_step_for_the_examples(upstream_session)

    # Create SSL configuration
    ssl_config = ActiveSampleSelectionConfig(
        # Essential fields from base config
        author="data-scientist",
        bucket="my-ml-bucket",
        role="arn:aws:iam::123456789012:role/SageMakerRole",
        region="NA",
        service_name="recommendation",
        pipeline_version="v1.0",
        project_root_folder="projects/recommendation",
        # SSL-specific configuration
        selection_strategy="confidence_threshold",
        use_case="ssl",  # ← Enables validation
        confidence_threshold=0.9,
        max_samples=10000,
        # Data configuration
        id_field="user_id",
        output_format="parquet",
        # Processing settings
        processing_source_dir="projects/recommendation/scripts",
        use_large_processing_instance=False,
    )

    # Create step builder
    builder = ActiveSampleSelectionStepBuilder(
        config=ssl_config,
        role=ssl_config.role,
    )

    # Create step with automatic dependency resolution
    ssl_selection_step = builder.create_step(
        inputs={
            "evaluation_data": inference_step.properties.ProcessingOutputConfig.Outputs[
                "eval_output"
            ].S3Output.S3Uri
        },
        outputs={"selected_samples": "s3://my-ml-bucket/ssl/selected/"},
        dependencies=[inference_step],
    )

    assert ssl_config.pipeline_name == "data-scientist-recommendation-xgboost-NA"
    document = render(
        ssl_config.pipeline_name,
        [inference_step, ssl_selection_step],
        [builder.session, upstream_session],
    )
    step = arguments_of(document, "ActiveSampleSelection")
    assert step["DependsOn"] == ["XGBoostModelInference"]
    args = step["Arguments"]
    assert args["AppSpecification"]["ImageUri"] == SPARK_IMAGE  # NA is us-east-1
    assert args["AppSpecification"]["ContainerArguments"] == ["--job_type", "ssl_selection"]
    assert args["RoleArn"] == ROLE
    assert args["ProcessingResources"]["ClusterConfig"]["InstanceType"] == "ml.m5.2xlarge"
    environment = args["Environment"]
    assert {k: environment[k] for k in ("SELECTION_STRATEGY", "USE_CASE", "ID_FIELD")} == {
        "SELECTION_STRATEGY": "confidence_threshold",
        "USE_CASE": "ssl",
        "ID_FIELD": "user_id",
    }
    assert (environment["CONFIDENCE_THRESHOLD"], environment["MAX_SAMPLES"]) == ("0.9", "10000")
    assert environment["OUTPUT_FORMAT"] == "parquet"
    inputs, outputs = channels(args)
    assert inputs["evaluation_data"] == output_expr("XGBoostModelInference", "eval_output")
    assert outputs == {
        "selected_samples": "s3://my-ml-bucket/ssl/selected/",
        "selection_metadata": default_output("ActiveSampleSelection", "selection_metadata"),
    }


def test_example_2_active_learning_with_uncertainty_sampling(upstream_session: Any) -> None:
    # not in the document: what it calls model_inference_output
    inference_step = inference_step_for_the_examples(upstream_session)
    outputs = inference_step.properties.ProcessingOutputConfig.Outputs
    model_inference_output = outputs["eval_output"].S3Output.S3Uri
    other_base_fields = {k: v for k, v in BASE_FIELDS.items() if k not in ("author", "bucket")}

    # Create Active Learning configuration
    al_config = ActiveSampleSelectionConfig(
        # Base fields...
        author="ml-engineer",
        bucket="my-ml-bucket",
        **other_base_fields,  # not in the document: its "# ... other base fields"
        # Active Learning-specific
        selection_strategy="uncertainty",
        use_case="active_learning",  # ← Enables validation
        uncertainty_mode="margin",
        batch_size=50,
        # Data configuration
        id_field="sample_id",
        output_format="csv",
    )

    # Create step
    al_builder = ActiveSampleSelectionStepBuilder(config=al_config)

    al_selection_step = al_builder.create_step(
        inputs={"evaluation_data": model_inference_output},
        outputs={"selected_samples": "s3://my-ml-bucket/active_learning/batch_1/"},
    )

    document = render(
        al_config.pipeline_name,
        [inference_step, al_selection_step],
        [al_builder.session, upstream_session],
    )
    args = arguments_of(document, "ActiveSampleSelection")["Arguments"]
    assert args["AppSpecification"]["ContainerArguments"] == [
        "--job_type",
        "active_learning_selection",
    ]
    environment = args["Environment"]
    assert (environment["UNCERTAINTY_MODE"], environment["BATCH_SIZE"]) == ("margin", "50")
    assert (environment["ID_FIELD"], environment["OUTPUT_FORMAT"]) == ("sample_id", "csv")
    assert "CONFIDENCE_THRESHOLD" not in environment
    inputs, outputs = channels(args)
    assert inputs["evaluation_data"] == output_expr("XGBoostModelInference", "eval_output")
    assert outputs["selected_samples"] == "s3://my-ml-bucket/active_learning/batch_1/"
    loc = "s3://my-ml-bucket/MODS/ml-engineer-recommendation-xgboost-NA_v1.0"
    assert outputs["selection_metadata"] == default_output(
        "ActiveSampleSelection", "selection_metadata", loc
    )


def test_example_3_top_k_per_class_for_balanced_ssl() -> None:
    # not in the document: the two URIs it uses
    predictions_s3_uri = "s3://my-ml-bucket/predictions/"
    output_s3_uri = "s3://my-ml-bucket/ssl/balanced/"

    # Top-k ensures balanced pseudo-labeling
    balanced_ssl_config = ActiveSampleSelectionConfig(
        # Base fields...
        **BASE_FIELDS,  # not in the document: its "# Base fields..."
        selection_strategy="top_k_per_class",
        use_case="ssl",
        k_per_class=500,  # 500 samples per class
        id_field="record_id",
    )

    builder = ActiveSampleSelectionStepBuilder(config=balanced_ssl_config)

    balanced_step = builder.create_step(
        inputs={"evaluation_data": predictions_s3_uri},
        outputs={"selected_samples": output_s3_uri},
    )

    document = render(balanced_ssl_config.pipeline_name, [balanced_step], [builder.session])
    args = arguments_of(document, "ActiveSampleSelection")["Arguments"]
    environment = args["Environment"]
    assert (environment["SELECTION_STRATEGY"], environment["K_PER_CLASS"]) == (
        "top_k_per_class",
        "500",
    )
    inputs, outputs = channels(args)
    assert inputs["evaluation_data"] == predictions_s3_uri
    assert outputs["selected_samples"] == output_s3_uri


def test_dependencies_only_with_an_upstream_without_a_specification(
    upstream_session: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Pattern 1's create_step(dependencies=[inference_step]) when the upstream step carries no
    specification: the document warns and wants the input given explicitly; so does this."""
    inference_step = inference_step_for_the_examples(upstream_session)
    builder = ActiveSampleSelectionStepBuilder(
        ActiveSampleSelectionConfig(**BASE_FIELDS, use_case="ssl")
    )
    with pytest.raises(ValueError, match="required input 'evaluation_data' is not resolved"):
        builder.create_step(dependencies=[inference_step])
    assert "no specification attached to XGBoostModelInference; give it in inputs=" in caplog.text
    step = builder.create_step(
        inputs={
            "evaluation_data": inference_step.properties.ProcessingOutputConfig.Outputs[
                "eval_output"
            ].S3Output.S3Uri
        },
        dependencies=[inference_step],
    )
    document = render("recommendation", [inference_step, step], [builder.session, upstream_session])
    assert arguments_of(document, "ActiveSampleSelection")["DependsOn"] == ["XGBoostModelInference"]


def test_use_case_validation_via_pydantic() -> None:
    # ✅ VALID: SSL with confidence strategy
    config = ActiveSampleSelectionConfig(
        **BASE_FIELDS,  # not in the document, which gives no base fields here
        selection_strategy="confidence_threshold",
        use_case="ssl",  # ← Validates compatibility
        confidence_threshold=0.9,
    )

    # ❌ INVALID: SSL with uncertainty strategy - Raises ValueError
    with pytest.raises(ValueError) as raised:  # not in the document: it lets the error escape
        config = ActiveSampleSelectionConfig(
            **BASE_FIELDS,  # not in the document
            selection_strategy="uncertainty",  # ← Wrong for SSL!
            use_case="ssl",
        )
    # ValueError: Strategy 'uncertainty' is NOT valid for SSL!
    assert "Strategy 'uncertainty' is NOT valid for SSL!" in str(raised.value)
    assert config.selection_strategy == "confidence_threshold"


def test_configuration_validation_errors(capsys: pytest.CaptureFixture[str]) -> None:
    # ❌ Example 1: Wrong strategy for SSL
    try:
        config = ActiveSampleSelectionConfig(
            selection_strategy="uncertainty",
            use_case="ssl",
            # ...
            **BASE_FIELDS,  # not in the document: its "# ..."
        )
    except ValueError as e:
        print(e)
        # "Strategy 'uncertainty' is NOT valid for SSL! ..."
    first = capsys.readouterr().out
    assert "Strategy 'uncertainty' is NOT valid for SSL! " in first

    # ❌ Example 2: Invalid confidence threshold
    try:
        config = ActiveSampleSelectionConfig(
            confidence_threshold=1.5,  # > 1.0
            # ...
            **BASE_FIELDS,  # not in the document: its "# ..."
        )
    except ValidationError as e:
        print(e)
        # "confidence_threshold must be between 0.5 and 1.0"
    second = capsys.readouterr().out
    assert second.startswith("1 validation error for ActiveSampleSelectionConfig\n")
    assert "confidence_threshold must be between 0.5 and 1.0" in second

    # ❌ Example 3: Missing required base fields
    try:
        config = ActiveSampleSelectionConfig(
            selection_strategy="confidence_threshold",
            # Missing: author, bucket, role, region, service_name, pipeline_version
        )
    except ValidationError as e:
        print(e)
        # "Field required: author ..."
    third = capsys.readouterr().out
    assert third.splitlines()[1:3] == [
        "author",
        "  Field required [type=missing, input_value={'selection_strategy': "
        "'confidence_threshold'}, input_type=dict]",
    ]
    for name in ("bucket", "role", "region", "service_name"):
        assert f"\n{name}\n  Field required" in third
    assert "config" not in locals()  # every one of the three raised


def test_cost_optimization() -> None:
    # For small datasets (<1M samples)
    config = ActiveSampleSelectionConfig(
        **BASE_FIELDS,  # not in the document, which gives no base fields here
        use_large_processing_instance=False,  # Use ml.m5.2xlarge
        processing_instance_count=1,
    )
    assert config.effective_instance_type == "ml.m5.2xlarge"
    assert not config.reads_s3_directly

    # For large datasets (>10M samples)
    config = ActiveSampleSelectionConfig(
        **BASE_FIELDS,  # not in the document
        use_large_processing_instance=True,  # Use ml.m5.4xlarge
        processing_instance_count=2,  # Parallel processing
    )
    assert config.effective_instance_type == "ml.m5.4xlarge"
    # Here, several instances means Spark on a cluster reading and writing S3 itself.
    assert config.reads_s3_directly


# The document's two unit tests, as it writes them ("# ... other fields": the base fields).


def test_ssl_strategy_validation() -> None:
    """Test SSL-specific strategy validation."""
    # Valid SSL strategies
    for strategy in ["confidence_threshold", "top_k_per_class"]:
        config = ActiveSampleSelectionConfig(
            selection_strategy=strategy,
            use_case="ssl",
            # ... other fields
            **BASE_FIELDS,
        )
        assert config.selection_strategy == strategy

    # Invalid SSL strategies
    for strategy in ["uncertainty", "diversity", "badge"]:
        with pytest.raises(ValueError, match="NOT valid for SSL"):
            ActiveSampleSelectionConfig(
                selection_strategy=strategy,
                use_case="ssl",
                # ... other fields
                **BASE_FIELDS,
            )


def test_active_learning_strategy_validation() -> None:
    """Test Active Learning-specific strategy validation."""
    # Valid AL strategies
    for strategy in ["uncertainty", "diversity", "badge"]:
        config = ActiveSampleSelectionConfig(
            selection_strategy=strategy,
            use_case="active_learning",
            # ... other fields
            **BASE_FIELDS,
        )
        assert config.selection_strategy == strategy

    # Invalid AL strategies (warning, not error)
    # (the document's comment; its own test expects, and gets, a ValueError)
    for strategy in ["confidence_threshold", "top_k_per_class"]:
        with pytest.raises(ValueError, match="NOT recommended for Active Learning"):
            ActiveSampleSelectionConfig(
                selection_strategy=strategy,
                use_case="active_learning",
                # ... other fields
                **BASE_FIELDS,
            )
