"""Constants and definition helpers shared by the builder tests."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CONF = REPO / "conf"
REGION = "us-east-1"
BUCKET = "my-ml-bucket"
ROLE = "arn:aws:iam::111122223333:role/SageMakerExecutionRole"
BASE_FIELDS: dict[str, Any] = {
    "role": ROLE,
    "region": REGION,
    "bucket": BUCKET,
    "pipeline_name": "selection-pipeline",
}


def definition(
    session: Any,
    steps: Sequence[Any],
    parameters: Sequence[Any] = (),
    name: str = "selection-pipeline",
) -> dict[str, Any]:
    """The pipeline definition as JSON; callers hold `uploads` so nothing leaves the machine."""
    from builders import sdk

    pipeline = sdk.Pipeline(
        name=name, parameters=list(parameters), steps=list(steps), sagemaker_session=session
    )
    document: dict[str, Any] = json.loads(pipeline.definition())
    return document


def step_arguments(document: dict[str, Any], name: str) -> dict[str, Any]:
    for step in document["Steps"]:
        if step["Name"] == name:
            arguments: dict[str, Any] = step["Arguments"]
            return arguments
    raise KeyError(name)


def upstream_step(
    session: Any, name: str, step_type: str, outputs: dict[str, tuple[str, ...]]
) -> Any:
    """A plain ProcessingStep with a SOURCE spec attached: output name -> aliases."""
    from builders import sdk
    from builders.base import NodeType, OutputSpec, StepSpecification, attach_spec

    processor = sdk.Processor(
        role=ROLE,
        image_uri=f"111122223333.dkr.ecr.{REGION}.amazonaws.com/inference:1",
        instance_count=1,
        instance_type="ml.m5.xlarge",
        sagemaker_session=session,
    )
    channels = [
        sdk.ProcessingOutput(
            source=f"/opt/ml/processing/output/{out}",
            destination=f"s3://{BUCKET}/{name}/{out}",
            output_name=out,
        )
        for out in outputs
    ]
    step = sdk.ProcessingStep(name=name, step_args=processor.run(outputs=channels))
    spec = StepSpecification(
        step_type=step_type,
        node_type=NodeType.SOURCE,
        outputs={
            out: OutputSpec(
                logical_name=out,
                property_path=f"properties.ProcessingOutputConfig.Outputs['{out}'].S3Output.S3Uri",
                aliases=aliases,
            )
            for out, aliases in outputs.items()
        },
    )
    attach_spec(step, spec)
    return step


def output_expr(step_name: str, output: str) -> dict[str, str]:
    return {"Get": f"Steps.{step_name}.ProcessingOutputConfig.Outputs['{output}'].S3Output.S3Uri"}
