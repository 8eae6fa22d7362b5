"""Offline fixtures for the step builders: no credentials, no network, uploads recorded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from tests.builders.helpers import BUCKET, REGION


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The SDK warns on every run() under a PipelineSession that no job starts: that is the point.
    for item in items:
        if "tests/builders" in item.path.as_posix():
            item.add_marker(pytest.mark.filterwarnings("ignore:Running within a PipelineSession"))


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Any HTTP request botocore tries (S3, STS, SageMaker, IMDS) fails the test."""
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    from botocore.httpsession import URLLib3Session

    with mock.patch.object(
        URLLib3Session, "send", side_effect=AssertionError("network access in an offline test")
    ):
        yield


@pytest.fixture(scope="session")
def staging_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("staged-code")


@pytest.fixture
def session() -> Any:
    from builders import sdk

    return sdk.pipeline_session(REGION, BUCKET)


@pytest.fixture
def uploads(session: Any) -> Iterator[list[Any]]:
    from builders import sdk

    with sdk.offline_uploads(session) as recorded:
        yield recorded
