"""Three-tier step configuration on pydantic v2.

Tier 1, essential inputs: fields without a default; the user must give them.
Tier 2, system fields: fields with a default a user may override.
Tier 3, derived values: read-only properties computed from the other two, never stored, so a
config serialises to (and loads from) tiers 1 and 2 alone.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PIPELINE_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}$")
_STEP_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ISO_DURATION = re.compile(r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?!$)(\d+H)?(\d+M)?(\d+S)?)?$")


class StepConfigBase(BaseModel):
    """Immutable, strict: an unknown key is an error, not a silently ignored typo."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    @classmethod
    def tiers(cls) -> dict[str, tuple[str, ...]]:
        """Field names by tier: essential (required), system (defaulted), derived (properties)."""
        essential = tuple(n for n, f in cls.model_fields.items() if f.is_required())
        system = tuple(n for n, f in cls.model_fields.items() if not f.is_required())
        derived = tuple(
            name
            for klass in cls.__mro__
            if issubclass(klass, StepConfigBase)
            for name, value in vars(klass).items()
            if isinstance(value, property) and not name.startswith("_")
        )
        return {"essential": essential, "system": system, "derived": tuple(dict.fromkeys(derived))}

    @classmethod
    def from_file(cls, path: str | Path, **overrides: Any) -> Self:
        """Load tiers 1 and 2 from YAML or JSON; keyword overrides win (e.g. role, bucket)."""
        path = Path(path)
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping of field names to values")
        return cls.model_validate({**data, **overrides})

    def replace(self, **changes: Any) -> Self:
        """A validated copy with `changes` applied (model_copy would skip validation)."""
        return type(self).model_validate({**self.model_dump(exclude_unset=True), **changes})


class ProcessingStepConfigBase(StepConfigBase):
    """Where a processing step runs and on what: account, region, bucket, instances, caching."""

    # ===== Tier 1: essential user inputs =====
    role: str = Field(description="execution role ARN of the processing job")
    region: str = Field(description="AWS region of the pipeline, e.g. us-east-1")
    bucket: str = Field(description="S3 bucket for the step's outputs")
    pipeline_name: str = Field(description="name of the pipeline the step belongs to")

    # ===== Tier 2: system fields with defaults =====
    processing_instance_type: str = "ml.m5.2xlarge"
    processing_instance_count: int = Field(default=1, ge=1, le=100)
    processing_volume_size: int = Field(default=30, ge=1, le=16384, description="GB per instance")
    max_runtime_in_seconds: int = Field(default=24 * 3600, ge=1)
    cache_expire_after: str = Field(default="P30D", description="ISO 8601 duration")
    step_name: str | None = Field(default=None, description="default: the step type")

    @field_validator("role")
    @classmethod
    def _role_is_an_arn(cls, value: str) -> str:
        # A bare role name needs an IAM lookup to expand, which an offline build cannot do.
        if not _ROLE_ARN.match(value):
            raise ValueError(f"role {value!r} must be a full IAM role ARN (arn:aws:iam::...)")
        return value

    @field_validator("region")
    @classmethod
    def _region_code(cls, value: str) -> str:
        if not _REGION.match(value):
            raise ValueError(f"region {value!r} is not an AWS region code such as us-east-1")
        return value

    @field_validator("bucket")
    @classmethod
    def _bucket_name(cls, value: str) -> str:
        if not _BUCKET.match(value) or ".." in value:
            raise ValueError(f"bucket {value!r} is not a valid S3 bucket name (no s3:// prefix)")
        return value

    @field_validator("pipeline_name")
    @classmethod
    def _pipeline_name(cls, value: str) -> str:
        if not _PIPELINE_NAME.match(value):
            raise ValueError(f"pipeline_name {value!r} must be letters, digits and hyphens")
        return value

    @field_validator("processing_instance_type")
    @classmethod
    def _instance_type(cls, value: str) -> str:
        if not re.match(r"^ml\.[a-z0-9]+\.[a-z0-9]+$", value):
            raise ValueError(f"processing_instance_type {value!r} is not like ml.m5.2xlarge")
        return value

    @field_validator("step_name")
    @classmethod
    def _step_name(cls, value: str | None) -> str | None:
        # Pipeline step names: 1-64 letters, digits, hyphens and underscores.
        if value is not None and not _STEP_NAME.match(value):
            raise ValueError(f"step_name {value!r} must be 1-64 letters, digits, '-' or '_'")
        return value

    @field_validator("cache_expire_after")
    @classmethod
    def _duration(cls, value: str) -> str:
        if not _ISO_DURATION.match(value):
            raise ValueError(f"cache_expire_after {value!r} is not an ISO 8601 duration (P30D)")
        return value

    # ===== Tier 3: derived =====
    @property
    def pipeline_s3_loc(self) -> str:
        """The pipeline's base path; default outputs go below it."""
        return f"s3://{self.bucket}/{self.pipeline_name}"
