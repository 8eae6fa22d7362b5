"""Full pipeline definitions, built offline: image, entrypoint, env, arguments, channels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from builders import ActiveSampleSelectionConfig, ActiveSampleSelectionStepBuilder, sdk
from builders.active_sample_selection.package import stage_code
from builders.active_sample_selection.spec import ACTIVE_SAMPLE_SELECTION_SPEC
from builders.base import DependencyResolutionError, spec_of
from builders.base.errors import BuilderError
from builders.base.resolver import resolve_property
from tests.builders.helpers import (
    BASE_FIELDS,
    CONF,
    REGION,
    definition,
    output_expr,
    step_arguments,
    upstream_step,
)

CODE = "/opt/ml/processing/input/code/active_sample_selection.py"
ENTRYPOINT = ["smspark-submit", "--py-files", "/opt/ml/processing/input/py-files", CODE]
PIPELINE = BASE_FIELDS["pipeline_name"]


def ssl_config(**fields: Any) -> ActiveSampleSelectionConfig:
    return ActiveSampleSelectionConfig(
        **{
            **BASE_FIELDS,
            "selection_strategy": "confidence_threshold",
            "use_case": "ssl",
            "confidence_threshold": 0.95,
            **fields,
        }
    )


def evaluation_parameter() -> Any:
    return sdk.ParameterString(name="EvaluationData", default_value="s3://my-ml-bucket/preds/")


def default_output(step_name: str, output: str) -> dict[str, Any]:
    return {
        "Std:Join": {
            "On": "/",
            "Values": [
                f"s3://my-ml-bucket/{PIPELINE}",
                {"Get": "Execution.PipelineExecutionId"},
                step_name,
                output,
            ],
        }
    }


@pytest.fixture
def build(session: Any, staging_dir: Path) -> Any:
    def build(config: ActiveSampleSelectionConfig, **kwargs: Any) -> Any:
        return ActiveSampleSelectionStepBuilder(
            config, session, staging_dir=staging_dir
        ).create_step(**kwargs)

    return build


def test_single_instance_step(
    build: Any, session: Any, uploads: list[Any], staging_dir: Path
) -> None:
    config = ssl_config(spark_sql_shuffle_partitions=64)
    parameter = evaluation_parameter()
    step = build(
        config, inputs={"evaluation_data": parameter, "labeled_data": "s3://my-ml-bucket/labeled/"}
    )
    args = step_arguments(definition(session, [step], [parameter]), "ActiveSampleSelection")

    app = args["AppSpecification"]
    assert app["ImageUri"].endswith("/sagemaker-spark-processing:3.5-cpu-py312-v1")
    assert app["ImageUri"] == sdk.spark_image_uri(REGION, "3.5", "py312", "1", "ml.m5.2xlarge")
    assert app["ImageUri"].startswith(f"173754725891.dkr.ecr.{REGION}.amazonaws.com/")
    assert app["ContainerEntrypoint"] == ENTRYPOINT
    assert app["ContainerArguments"] == ["--job_type", "ssl_selection"]
    assert args["Environment"] == config.get_environment_variables()
    assert args["Environment"]["CONFIDENCE_THRESHOLD"] == "0.95"
    assert "BATCH_SIZE" not in args["Environment"]
    assert args["RoleArn"] == BASE_FIELDS["role"]
    assert args["ProcessingResources"]["ClusterConfig"] == {
        "InstanceType": "ml.m5.2xlarge",
        "InstanceCount": 1,
        "VolumeSizeInGB": 30,
    }
    assert args["StoppingCondition"] == {"MaxRuntimeInSeconds": 86400}

    inputs = {i["InputName"]: i["S3Input"] for i in args["ProcessingInputs"]}
    assert list(inputs) == ["evaluation_data", "labeled_data", "py-files", "conf", "code"]
    assert inputs["evaluation_data"]["S3Uri"] == {"Get": "Parameters.EvaluationData"}
    assert inputs["evaluation_data"]["LocalPath"] == "/opt/ml/processing/input/evaluation_data"
    assert inputs["labeled_data"]["LocalPath"] == "/opt/ml/processing/input/labeled_data"
    code_prefix = f"s3://my-ml-bucket/{PIPELINE}/code/"
    assert inputs["code"]["S3Uri"].startswith(code_prefix)
    assert inputs["code"]["S3Uri"].endswith("/active_sample_selection.py")
    assert inputs["py-files"]["S3Uri"].startswith(code_prefix)

    outputs = {o["OutputName"]: o["S3Output"] for o in args["ProcessingOutputConfig"]["Outputs"]}
    assert list(outputs) == ["selected_samples", "selection_metadata"]
    for name, out in outputs.items():
        assert out["LocalPath"] == f"/opt/ml/processing/output/{name}"
        assert out["S3Uri"] == default_output("ActiveSampleSelection", name)

    # What would have been uploaded: the staged job, the selection zip, the spark-defaults.
    code = stage_code(staging_dir)
    sent = {u.s3_uri: u.files for u in uploads}
    assert sent[inputs["code"]["S3Uri"]] == {
        "active_sample_selection.py": code.submit_app.read_bytes()
    }
    assert sent[inputs["py-files"]["S3Uri"]] == {"selection.zip": code.py_files.read_bytes()}
    (conf_file,) = sent[inputs["conf"]["S3Uri"]].values()
    assert json.loads(conf_file) == config.spark_configuration


def test_labeled_data_is_optional(build: Any, session: Any, uploads: list[Any]) -> None:
    step = build(ssl_config(), inputs={"evaluation_data": "s3://my-ml-bucket/preds/"})
    args = step_arguments(definition(session, [step]), "ActiveSampleSelection")
    names = [i["InputName"] for i in args["ProcessingInputs"]]
    assert names == ["evaluation_data", "py-files", "code"]  # no spark-defaults set: no conf


def test_several_instances_pass_s3_uris_as_arguments(
    build: Any, session: Any, uploads: list[Any]
) -> None:
    config = ActiveSampleSelectionConfig.from_file(
        CONF / "active_learning_step.yaml", pipeline_name=PIPELINE, overwrite_outputs=True
    )
    parameter = evaluation_parameter()
    step = build(
        config,
        inputs={"evaluation_data": parameter, "labeled_data": "s3://my-ml-bucket/labeled/"},
        outputs={"selected_samples": "s3://my-ml-bucket/to-label/"},
    )
    args = step_arguments(definition(session, [step], [parameter]), "ALSampleSelection")

    metadata_uri = default_output("ALSampleSelection", "selection_metadata")
    assert args["AppSpecification"]["ContainerArguments"] == [
        "--job_type",
        "active_learning_selection",
        "--overwrite",
        "--input",
        {"Get": "Parameters.EvaluationData"},
        "--labeled-data",
        "s3://my-ml-bucket/labeled/",
        "--output",
        "s3://my-ml-bucket/to-label/",
        "--metadata-output",
        metadata_uri,
    ]
    assert args["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == 2
    # No data channel: every node would download the whole input; Spark reads S3 instead.
    assert [i["InputName"] for i in args["ProcessingInputs"]] == ["py-files", "conf", "code"]
    # The outputs are still declared, with the URIs the job writes to, for property paths.
    outputs = {
        o["OutputName"]: o["S3Output"]["S3Uri"] for o in args["ProcessingOutputConfig"]["Outputs"]
    }
    assert outputs == {
        "selected_samples": "s3://my-ml-bucket/to-label/",
        "selection_metadata": metadata_uri,
    }
    assert args["Environment"]["UNCERTAINTY_MODE"] == "entropy"


def test_several_instances_refuse_local_paths(build: Any) -> None:
    config = ssl_config(processing_instance_count=3)
    with pytest.raises(BuilderError, match="'evaluation_data' must be an s3:// or s3a:// URI"):
        build(config, inputs={"evaluation_data": "/data/predictions"})
    with pytest.raises(BuilderError, match="'selected_samples' must be an s3:// URI"):
        build(
            config,
            inputs={"evaluation_data": "s3a://my-ml-bucket/preds/"},
            outputs={"selected_samples": "s3a://my-ml-bucket/out/"},
        )


def test_two_builds_give_the_same_definition(session: Any, staging_dir: Path) -> None:
    documents = []
    for _ in range(2):
        fresh = sdk.pipeline_session(REGION, "my-ml-bucket")
        with sdk.offline_uploads(fresh):
            config = ssl_config(spark_sql_shuffle_partitions=64)
            step = ActiveSampleSelectionStepBuilder(
                config, fresh, staging_dir=staging_dir
            ).create_step(inputs={"evaluation_data": "s3://my-ml-bucket/preds/"})
            documents.append(
                sdk.Pipeline(name=PIPELINE, steps=[step], sagemaker_session=fresh).definition()
            )
    assert documents[0] == documents[1]


def test_evaluation_data_resolves_from_an_inference_step(
    build: Any, session: Any, uploads: list[Any]
) -> None:
    inference = upstream_step(
        session, "Inference", "XGBoostModelInference", {"eval_output": (), "metrics": ()}
    )
    step = build(ssl_config(), dependencies=[inference])
    assert spec_of(step) is ACTIVE_SAMPLE_SELECTION_SPEC
    document = definition(session, [inference, step])
    selection = next(s for s in document["Steps"] if s["Name"] == "ActiveSampleSelection")
    assert selection["DependsOn"] == ["Inference"]
    (channel,) = [
        i for i in selection["Arguments"]["ProcessingInputs"] if i["InputName"] == "evaluation_data"
    ]
    assert channel["S3Input"]["S3Uri"] == output_expr("Inference", "eval_output")


def test_unresolved_evaluation_data_is_a_clear_error(build: Any, session: Any) -> None:
    preprocessing = upstream_step(session, "Prep", "TabularPreprocessing", {"processed_data": ()})
    with pytest.raises(DependencyResolutionError) as raised:
        build(ssl_config(), dependencies=[preprocessing])
    message = str(raised.value)
    assert "required input 'evaluation_data' is not resolved" in message
    assert "Prep (TabularPreprocessing: processed_data)" in message
    with pytest.raises(DependencyResolutionError, match="Searched: no dependencies"):
        build(ssl_config())


def test_output_property_paths_resolve_for_downstream_steps(
    build: Any, session: Any, uploads: list[Any]
) -> None:
    step = build(ssl_config(), inputs={"evaluation_data": "s3://my-ml-bucket/preds/"})
    for name, output in ACTIVE_SAMPLE_SELECTION_SPEC.outputs.items():
        expected = output_expr("ActiveSampleSelection", name)
        assert resolve_property(step, output.property_path).expr == expected
    selected = step.properties.ProcessingOutputConfig.Outputs["selected_samples"].S3Output.S3Uri
    consumer = sdk.ProcessingStep(
        name="Merge",
        step_args=sdk.Processor(
            role=BASE_FIELDS["role"],
            image_uri="111122223333.dkr.ecr.us-east-1.amazonaws.com/m:1",
            instance_count=1,
            instance_type="ml.m5.xlarge",
            sagemaker_session=session,
        ).run(
            inputs=[sdk.ProcessingInput(source=selected, destination="/opt/ml/processing/input/x")]
        ),
    )
    merge = step_arguments(definition(session, [step, consumer]), "Merge")
    assert merge["ProcessingInputs"][0]["S3Input"]["S3Uri"] == output_expr(
        "ActiveSampleSelection", "selected_samples"
    )


def test_cache_event_logs_and_image_override(build: Any, session: Any, uploads: list[Any]) -> None:
    config = ssl_config(
        spark_event_logs_s3_uri="s3://my-ml-bucket/spark-events/",
        image_uri="111122223333.dkr.ecr.us-east-1.amazonaws.com/spark-mirror:3.5-cpu-py312-v1",
        cache_expire_after="P7D",
    )
    step = build(
        config, inputs={"evaluation_data": "s3://my-ml-bucket/preds/"}, enable_caching=False
    )
    document = definition(session, [step])
    assert document["Steps"][0]["CacheConfig"] == {"Enabled": False, "ExpireAfter": "P7D"}
    args = document["Steps"][0]["Arguments"]
    assert args["AppSpecification"]["ImageUri"] == config.image_uri
    assert args["AppSpecification"]["ContainerEntrypoint"] == [
        *ENTRYPOINT[:3],
        "--local-spark-event-logs-dir",
        "/opt/ml/processing/spark-events/",
        CODE,
    ]
    events = args["ProcessingOutputConfig"]["Outputs"][-1]["S3Output"]
    assert (events["S3Uri"], events["S3UploadMode"]) == (
        config.spark_event_logs_s3_uri,
        "Continuous",
    )


def test_ssl_and_active_learning_steps_in_one_pipeline(
    build: Any, session: Any, uploads: list[Any]
) -> None:
    inference = upstream_step(session, "Inference", "PyTorchModelInference", {"eval_output": ()})
    ssl = ActiveSampleSelectionConfig.from_file(CONF / "ssl_step.yaml", pipeline_name=PIPELINE)
    al = ActiveSampleSelectionConfig.from_file(
        CONF / "active_learning_step.yaml", pipeline_name=PIPELINE
    )
    steps = [inference, build(ssl, dependencies=[inference]), build(al, dependencies=[inference])]
    document = definition(session, steps)
    assert [s["Name"] for s in document["Steps"]] == [
        "Inference",
        "SSLSampleSelection",
        "ALSampleSelection",
    ]
    zips = {u.s3_uri for u in uploads if "selection.zip" in u.files}
    assert len(zips) == 1  # one code hash: both steps ship the same code


def test_builder_role_and_the_cursus_instance_switch(
    session: Any, staging_dir: Path, uploads: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="builders")
    config = ssl_config(use_large_processing_instance=True, processing_source_dir="scripts/")
    role = "arn:aws:iam::444455556666:role/PipelineRole"
    builder = ActiveSampleSelectionStepBuilder(
        config=config, sagemaker_session=session, role=role, staging_dir=staging_dir
    )
    step = builder.create_step(inputs={"evaluation_data": "s3://my-ml-bucket/preds/"})
    args = step_arguments(definition(session, [step]), "ActiveSampleSelection")
    assert args["RoleArn"] == role
    assert args["ProcessingResources"]["ClusterConfig"]["InstanceType"] == "ml.m5.4xlarge"
    assert "processing_source_dir is not used" in caplog.text


def test_builder_wants_its_own_config(session: Any) -> None:
    from builders.base.config import ProcessingStepConfigBase

    with pytest.raises(
        BuilderError, match="requires a ActiveSampleSelectionConfig, not ProcessingStepConfigBase"
    ):
        ActiveSampleSelectionStepBuilder(ProcessingStepConfigBase(**BASE_FIELDS), session)  # type: ignore[arg-type]
