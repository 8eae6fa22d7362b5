from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from builders.base.config import ProcessingStepConfigBase
from tests.builders.helpers import BASE_FIELDS


class ExampleConfig(ProcessingStepConfigBase):
    threshold: float = 0.5

    @property
    def doubled(self) -> float:
        return self.threshold * 2


def test_tiers_come_from_required_defaulted_and_properties() -> None:
    tiers = ExampleConfig.tiers()
    assert tiers["essential"] == ("role", "region", "bucket", "pipeline_name")
    assert "threshold" in tiers["system"] and "processing_instance_count" in tiers["system"]
    assert tiers["derived"] == ("doubled", "pipeline_s3_loc")


def test_derived_values_are_read_only_and_not_serialised() -> None:
    config = ExampleConfig(**BASE_FIELDS)
    assert config.pipeline_s3_loc == "s3://my-ml-bucket/selection-pipeline"
    assert "pipeline_s3_loc" not in config.model_dump()
    with pytest.raises(ValueError, match="frozen"):
        config.threshold = 0.7  # type: ignore[misc]


def test_replace_validates_and_keeps_what_was_set() -> None:
    config = ExampleConfig(**BASE_FIELDS, threshold=0.6)
    assert config.replace(processing_instance_count=3).threshold == 0.6
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        config.replace(processing_instance_count=0)


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_from_file_with_overrides(tmp_path: Path, suffix: str) -> None:
    data = {**BASE_FIELDS, "threshold": 0.6}
    path = tmp_path / f"step{suffix}"
    path.write_text(json.dumps(data) if suffix == ".json" else yaml.safe_dump(data))
    config = ExampleConfig.from_file(path, bucket="other-bucket")
    assert (config.threshold, config.bucket) == (0.6, "other-bucket")


def test_from_file_needs_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(ValueError, match="expected a mapping"):
        ExampleConfig.from_file(path)


@pytest.mark.parametrize("field", ["role", "region", "bucket", "pipeline_name"])
def test_essential_fields_are_required(field: str) -> None:
    fields = {k: v for k, v in BASE_FIELDS.items() if k != field}
    with pytest.raises(ValueError, match=f"{field}\n  Field required"):
        ExampleConfig(**fields)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("role", "SageMakerExecutionRole", "full IAM role ARN"),
        ("role", "arn:aws:iam::1234:role/R", "full IAM role ARN"),
        ("region", "NA", "AWS region code"),
        ("bucket", "s3://my-ml-bucket", "valid S3 bucket name"),
        ("bucket", "My_Bucket", "valid S3 bucket name"),
        ("pipeline_name", "my_pipeline", "letters, digits and hyphens"),
        ("processing_instance_type", "m5.xlarge", "like ml.m5.2xlarge"),
        ("processing_instance_count", 0, "greater than or equal to 1"),
        ("processing_instance_count", 101, "less than or equal to 100"),
        ("processing_volume_size", 0, "greater than or equal to 1"),
        ("max_runtime_in_seconds", 0, "greater than or equal to 1"),
        ("cache_expire_after", "30 days", "ISO 8601 duration"),
        ("cache_expire_after", "P", "ISO 8601 duration"),
        ("step_name", "has space", "1-64 letters"),
        ("step_name", "x" * 65, "1-64 letters"),
        ("unknown_field", 1, "Extra inputs are not permitted"),
    ],
)
def test_invalid_base_field(field: str, value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ExampleConfig(**{**BASE_FIELDS, field: value})


@pytest.mark.parametrize("duration", ["P30D", "PT1H", "P1Y2M", "P1W", "P1DT12H30M"])
def test_cache_durations(duration: str) -> None:
    assert ExampleConfig(**BASE_FIELDS, cache_expire_after=duration).cache_expire_after == duration
