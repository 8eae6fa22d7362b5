from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from builders.base.config import ProcessingStepConfigBase
from tests.builders.helpers import BASE_FIELDS, ROLE

# A cursus base config: no pipeline_name, a region code.
CURSUS_FIELDS: dict[str, Any] = {
    "author": "data-scientist",
    "bucket": "my-ml-bucket",
    "role": ROLE,
    "region": "NA",
    "service_name": "recommendation",
    "pipeline_version": "v1.0",
    "project_root_folder": "projects/recommendation",
}


class ExampleConfig(ProcessingStepConfigBase):
    threshold: float = 0.5

    @property
    def doubled(self) -> float:
        return self.threshold * 2


def test_tiers_come_from_required_defaulted_and_properties() -> None:
    tiers = ExampleConfig.tiers()
    # cursus's order; author, service_name and pipeline_name: given, or pipeline_name derived
    assert tiers["essential"] == (
        "author",
        "bucket",
        "role",
        "region",
        "service_name",
        "pipeline_name",
    )
    assert "threshold" in tiers["system"] and "processing_instance_count" in tiers["system"]
    assert tiers["derived"] == (
        "doubled",
        "aws_region",
        "effective_instance_type",
        "pipeline_s3_loc",
    )


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


def test_pipeline_name_is_derived_from_cursus_base_fields() -> None:
    config = ExampleConfig(**CURSUS_FIELDS)
    assert config.pipeline_name == "data-scientist-recommendation-xgboost-NA"
    assert ExampleConfig(**CURSUS_FIELDS, model_class="lightgbm").pipeline_name == (
        "data-scientist-recommendation-lightgbm-NA"
    )
    # Derived, not set: a copy with another author derives its own name.
    assert config.replace(author="ml-engineer").pipeline_name == (
        "ml-engineer-recommendation-xgboost-NA"
    )
    assert ExampleConfig(**CURSUS_FIELDS, pipeline_name="given").pipeline_name == "given"


def test_pipeline_s3_loc_follows_cursus_when_versioned() -> None:
    assert ExampleConfig(**CURSUS_FIELDS).pipeline_s3_loc == (
        "s3://my-ml-bucket/MODS/data-scientist-recommendation-xgboost-NA_v1.0"
    )
    unversioned = {k: v for k, v in CURSUS_FIELDS.items() if k != "pipeline_version"}
    assert ExampleConfig(**unversioned).pipeline_s3_loc == (
        "s3://my-ml-bucket/data-scientist-recommendation-xgboost-NA"
    )


def test_missing_base_fields_are_reported_together_author_first() -> None:
    with pytest.raises(ValidationError) as raised:
        ExampleConfig(threshold=2)
    errors = raised.value.errors()
    assert [e["loc"][0] for e in errors if e["type"] == "missing"] == [
        "author",
        "bucket",
        "role",
        "region",
        "service_name",
        "pipeline_name",
    ]
    assert str(raised.value).split("\n")[1:3] == [
        "author",
        "  Field required [type=missing, input_value={'threshold': 2}, input_type=dict]",
    ]
    # the other errors of the same input are not hidden behind the missing ones
    with pytest.raises(ValidationError) as bad_bucket:
        ExampleConfig(**{**CURSUS_FIELDS, "service_name": None, "bucket": "B"})
    assert [e["loc"][0] for e in bad_bucket.value.errors()] == [
        "bucket",
        "service_name",
        "pipeline_name",
    ]


def test_a_derived_pipeline_name_must_be_valid() -> None:
    with pytest.raises(ValueError, match="'data_scientist-recommendation-xgboost-NA', derived"):
        ExampleConfig(**{**CURSUS_FIELDS, "author": "data_scientist"})


@pytest.mark.parametrize(
    ("region", "aws_region"),
    [("NA", "us-east-1"), ("EU", "eu-west-1"), ("FE", "us-west-2"), ("ap-south-1", "ap-south-1")],
)
def test_region_codes(region: str, aws_region: str) -> None:
    config = ExampleConfig(**{**BASE_FIELDS, "region": region})
    assert (config.region, config.aws_region) == (region, aws_region)


def test_instance_type_given_or_by_the_cursus_switch() -> None:
    assert ExampleConfig(**BASE_FIELDS).effective_instance_type == "ml.m5.2xlarge"
    large = ExampleConfig(**BASE_FIELDS, use_large_processing_instance=True)
    assert large.effective_instance_type == "ml.m5.4xlarge"
    custom = ExampleConfig(
        **BASE_FIELDS,
        use_large_processing_instance=True,
        processing_instance_type_large="ml.r5.8xlarge",
    )
    assert custom.effective_instance_type == "ml.r5.8xlarge"
    given = ExampleConfig(**BASE_FIELDS, processing_instance_type="ml.c5.xlarge")
    assert given.effective_instance_type == "ml.c5.xlarge"
    with pytest.raises(ValueError, match="both choose the instance type"):
        ExampleConfig(
            **BASE_FIELDS,
            processing_instance_type="ml.c5.xlarge",
            use_large_processing_instance=False,
        )


def test_cursus_source_fields_are_accepted() -> None:
    config = ExampleConfig(**CURSUS_FIELDS, processing_source_dir="projects/recommendation/scripts")
    assert config.project_root_folder == "projects/recommendation"
    assert config.processing_source_dir == "projects/recommendation/scripts"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("role", "SageMakerExecutionRole", "full IAM role ARN"),
        ("role", "arn:aws:iam::1234:role/R", "full IAM role ARN"),
        ("region", "XX", "neither an AWS region code"),
        ("region", "us-east", "neither an AWS region code"),
        ("bucket", "s3://my-ml-bucket", "valid S3 bucket name"),
        ("bucket", "My_Bucket", "valid S3 bucket name"),
        ("pipeline_name", "my_pipeline", "letters, digits and hyphens"),
        ("processing_instance_type", "m5.xlarge", "like ml.m5.2xlarge"),
        ("processing_instance_type_large", "4xlarge", "like ml.m5.2xlarge"),
        ("processing_instance_type_small", "", "like ml.m5.2xlarge"),
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
