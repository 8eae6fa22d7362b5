from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from builders import sdk
from tests.builders.helpers import BUCKET, REGION


@pytest.mark.parametrize(
    ("region", "account"), [("us-east-1", "173754725891"), ("eu-west-1", "571004829621")]
)
def test_this_sdk_knows_the_spark_35_py312_image(region: str, account: str) -> None:
    uri = sdk.spark_image_uri(region, "3.5", "py312", "1", "ml.m5.2xlarge")
    assert uri == (
        f"{account}.dkr.ecr.{region}.amazonaws.com/sagemaker-spark-processing:3.5-cpu-py312-v1"
    )


def test_pipeline_session_is_pinned_to_region_and_bucket(session: Any) -> None:
    assert isinstance(session, sdk.PipelineSession)
    assert session.boto_region_name == REGION
    with sdk.offline_uploads(session):
        assert session.default_bucket() == BUCKET  # no bucket check, no account lookup


def test_offline_uploads_record_and_return_the_real_uris(session: Any, tmp_path: Path) -> None:
    original = sdk.S3Uploader.upload
    (tmp_path / "job.py").write_text("print('hi')\n")
    (tmp_path / "deps").mkdir()
    (tmp_path / "deps" / "lib.zip").write_bytes(b"PK")
    with sdk.offline_uploads(session) as uploads:
        file_uri = sdk.S3Uploader.upload(str(tmp_path / "job.py"), "s3://b/code/abc")
        dir_uri = sdk.S3Uploader.upload(str(tmp_path / "deps"), "s3://b/code/abc/py-files")
        body_uri = sdk.S3Uploader.upload_string_as_file_body(
            body=io.BytesIO(b"{}"), desired_s3_uri="s3://b/conf/configuration.json"
        )
    assert (file_uri, dir_uri, body_uri) == (
        "s3://b/code/abc/job.py",
        "s3://b/code/abc/py-files",
        "s3://b/conf/configuration.json",
    )
    assert [dict(u.files) for u in uploads] == [
        {"job.py": b"print('hi')\n"},
        {"lib.zip": b"PK"},
        {"configuration.json": b"{}"},
    ]
    assert sdk.S3Uploader.upload is original
