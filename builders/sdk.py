"""The only module that imports the SageMaker Python SDK (v2); a port to v3 rewrites this file.

Everything else in `builders/` and its tests takes SageMaker classes and helpers from here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

# v2 is pinned on purpose (sagemaker>=2.257.7,<3); its import-time migration notice is noise.
os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")

import boto3
from sagemaker import image_uris
from sagemaker.processing import ProcessingInput, ProcessingOutput, Processor
from sagemaker.s3 import S3Uploader
from sagemaker.spark.processing import PySparkProcessor
from sagemaker.workflow import is_pipeline_variable
from sagemaker.workflow.entities import PipelineVariable
from sagemaker.workflow.execution_variables import ExecutionVariables
from sagemaker.workflow.functions import Join
from sagemaker.workflow.parameters import ParameterString
from sagemaker.workflow.pipeline import Pipeline
from sagemaker.workflow.pipeline_context import PipelineSession
from sagemaker.workflow.steps import CacheConfig, ProcessingStep, Step

__all__ = [
    "CacheConfig",
    "ExecutionVariables",
    "Join",
    "ParameterString",
    "Pipeline",
    "PipelineSession",
    "PipelineVariable",
    "ProcessingInput",
    "ProcessingOutput",
    "ProcessingStep",
    "Processor",
    "PySparkProcessor",
    "S3Uploader",
    "Step",
    "Upload",
    "is_pipeline_variable",
    "offline_uploads",
    "pipeline_session",
    "spark_image_uri",
]

SPARK_FRAMEWORK = "spark"


def pipeline_session(region: str, bucket: str) -> PipelineSession:
    """A PipelineSession pinned to `region` and `bucket`: nothing is looked up in the account."""
    return PipelineSession(boto_session=boto3.Session(region_name=region), default_bucket=bucket)


def spark_image_uri(
    region: str, framework_version: str, py_version: str, container_version: str, instance_type: str
) -> str:
    """The SageMaker Spark processing image, resolved the way PySparkProcessor resolves it."""
    return str(
        image_uris.retrieve(
            SPARK_FRAMEWORK,
            region,
            version=framework_version,
            py_version=py_version,
            container_version=f"v{container_version}",
            instance_type=instance_type,
        )
    )


@dataclass(frozen=True)
class Upload:
    """One upload the SDK asked for: what it would have sent and where."""

    local_path: str
    s3_uri: str
    files: Mapping[str, bytes] = field(default_factory=dict)


def _read_tree(path: str) -> dict[str, bytes]:
    root = Path(path)
    if root.is_file():
        return {root.name: root.read_bytes()}
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@contextmanager
def offline_uploads(session: PipelineSession) -> Iterator[list[Upload]]:
    """Build pipeline definitions without S3: record uploads instead of sending them.

    `Pipeline.definition()` uploads the job script, the py-files and the Spark configuration
    and checks the default bucket; inside this block none of that touches the network, so a
    definition can be rendered and inspected in CI or a notebook without credentials.
    The S3 URIs returned are the ones a real upload would return.
    """
    uploads: list[Upload] = []

    def upload(
        local_path: str,
        desired_s3_uri: str,
        kms_key: Any = None,
        sagemaker_session: Any = None,
        callback: Any = None,
    ) -> str:
        # The real upload copies what is there now; the SDK deletes its temp dirs right after.
        uri = desired_s3_uri.rstrip("/")
        if os.path.isfile(local_path):
            uri = f"{uri}/{os.path.basename(local_path)}"
        uploads.append(Upload(local_path, uri, _read_tree(local_path)))
        return uri

    def upload_string(
        body: Any, desired_s3_uri: str, kms_key: Any = None, sagemaker_session: Any = None
    ) -> str:
        data = body.getvalue() if hasattr(body, "getvalue") else body
        data = data.encode() if isinstance(data, str) else bytes(data)
        uploads.append(Upload("<body>", desired_s3_uri, {desired_s3_uri.rsplit("/", 1)[-1]: data}))
        return desired_s3_uri

    with ExitStack() as stack:
        # S3Uploader is one class object for both users: ScriptProcessor (code) and
        # PySparkProcessor (py-files, configuration), so patching it covers every upload.
        stack.enter_context(mock.patch.object(S3Uploader, "upload", staticmethod(upload)))
        stack.enter_context(
            mock.patch.object(S3Uploader, "upload_string_as_file_body", staticmethod(upload_string))
        )
        # default_bucket() otherwise checks (and may create) the bucket.
        stack.enter_context(
            mock.patch.object(session, "_create_s3_bucket_if_it_does_not_exist", return_value=None)
        )
        yield uploads
