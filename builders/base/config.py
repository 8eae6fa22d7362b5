"""Three-tier step configuration on pydantic v2.

Tier 1, essential inputs: fields without a default; the user must give them (plus those a
class lists in `derivable_essentials`: required unless derived from other fields).
Tier 2, system fields: fields with a default a user may override.
Tier 3, derived values: read-only properties computed from the other two, never stored, so a
config serialises to (and loads from) tiers 1 and 2 alone.

The processing base serves two kinds of users with one model: this project's (role, region
code, bucket, pipeline_name, processing_instance_type) and cursus's (author, service_name,
pipeline_version, region NA/EU/FE, the large/small instance switch). Where the two name the same
thing differently, both names are fields or aliases of one field; nothing unknown is accepted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PIPELINE_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}$")
_STEP_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ISO_DURATION = re.compile(r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?!$)(\d+H)?(\d+M)?(\d+S)?)?$")
_INSTANCE_TYPE = re.compile(r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
# cursus's region codes and the AWS regions they stand for.
REGION_CODES: dict[str, str] = {"NA": "us-east-1", "EU": "eu-west-1", "FE": "us-west-2"}
# cursus names a pipeline <author>-<service_name>-<model_class>-<region> and puts its files under
# s3://<bucket>/MODS/<pipeline_name>_<pipeline_version>.
PIPELINE_NAME_SOURCES: tuple[str, ...] = ("author", "service_name")
CURSUS_PIPELINE_PREFIX = "MODS"
_CURSUS_INSTANCE_FIELDS: tuple[str, ...] = (
    "use_large_processing_instance",
    "processing_instance_type_large",
    "processing_instance_type_small",
)


def check_role_arn(value: str) -> str:
    # A bare role name needs an IAM lookup to expand, which an offline build cannot do.
    if not _ROLE_ARN.match(value):
        raise ValueError(
            f"role {value!r} must be a full IAM role ARN (arn:aws:iam::<12 digits>:...)"
        )
    return value


def _error_details(exc: ValidationError) -> list[InitErrorDetails]:
    """The errors of `exc`, in the form ValidationError.from_exception_data takes back."""
    return [
        InitErrorDetails(type=e["type"], loc=e["loc"], input=e["input"], ctx=e.get("ctx", {}))
        for e in exc.errors()
    ]


class StepConfigBase(BaseModel):
    """Immutable, strict: an unknown key is an error, not a silently ignored typo."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)
    # Fields with a default of None that are required unless derived from other fields.
    derivable_essentials: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def _one_name_per_field(cls, data: Any) -> Any:
        # A field with two accepted names given under both: which one is meant is a guess.
        if isinstance(data, Mapping):
            for name, field in cls.model_fields.items():
                alias = field.validation_alias
                if isinstance(alias, AliasChoices):
                    given = [str(n) for n in alias.choices if n in data]
                    if len(given) > 1:
                        raise ValueError(f"{' and '.join(given)} name one field {name!r}; give one")
        return data

    @classmethod
    def tiers(cls) -> dict[str, tuple[str, ...]]:
        """Field names by tier: essential (required), system (defaulted), derived (properties)."""
        essential = tuple(
            n
            for n, f in cls.model_fields.items()
            if f.is_required() or n in cls.derivable_essentials
        )
        system = tuple(n for n in cls.model_fields if n not in essential)
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
    # In cursus's order, so that a config missing all of them names `author` first. author and
    # service_name are needed only to derive pipeline_name, when it is not given.
    author: str | None = Field(default=None, description="owner of the pipeline (cursus)")
    bucket: str = Field(description="S3 bucket for the step's outputs")
    role: str = Field(description="execution role ARN of the processing job")
    region: str = Field(description="AWS region (us-east-1) or cursus region code NA, EU, FE")
    service_name: str | None = Field(default=None, description="service the pipeline is for")
    pipeline_version: str | None = Field(
        default=None, description="cursus: outputs go under MODS/<pipeline_name>_<version>"
    )
    pipeline_name: str | None = Field(
        default=None, description="default: <author>-<service_name>-<model_class>-<region>"
    )

    # ===== Tier 2: system fields with defaults =====
    model_class: str = Field(default="xgboost", description="cursus: part of the derived name")
    project_root_folder: str | None = Field(
        default=None, description="cursus: accepted, not used (the step ships its own code)"
    )
    processing_source_dir: str | None = Field(
        default=None, description="cursus: accepted, not used (the step ships its own code)"
    )
    processing_instance_type: str | None = Field(
        default=None, description="instance type; default: cursus's large/small switch"
    )
    processing_instance_type_small: str = "ml.m5.2xlarge"
    processing_instance_type_large: str = "ml.m5.4xlarge"
    use_large_processing_instance: bool = False
    processing_instance_count: int = Field(default=1, ge=1, le=100)
    processing_volume_size: int = Field(default=30, ge=1, le=16384, description="GB per instance")
    max_runtime_in_seconds: int = Field(default=24 * 3600, ge=1)
    cache_expire_after: str = Field(default="P30D", description="ISO 8601 duration")
    step_name: str | None = Field(default=None, description="default: the step type")

    derivable_essentials: ClassVar[tuple[str, ...]] = (*PIPELINE_NAME_SOURCES, "pipeline_name")

    @model_validator(mode="wrap")
    @classmethod
    def _pipeline_name_given_or_derived(
        cls, data: Any, handler: ModelWrapValidatorHandler[Self]
    ) -> Self:
        """pipeline_name as given, else derived as cursus derives it; what is missing for either
        is reported with every other error, in field order (cursus's: `author` first)."""
        if not isinstance(data, Mapping) or data.get("pipeline_name") is not None:
            return handler(data)
        errors: list[InitErrorDetails] = [
            InitErrorDetails(type="missing", loc=(name,), input=data)
            for name in PIPELINE_NAME_SOURCES
            if not data.get(name)
        ]
        derived = ""
        if not errors:
            model_class = data.get("model_class", cls.model_fields["model_class"].default)
            parts = [data[n] for n in PIPELINE_NAME_SOURCES] + [model_class, data.get("region")]
            derived = "-".join(str(part) for part in parts)
            if not _PIPELINE_NAME.match(derived):
                errors.append(
                    InitErrorDetails(
                        type=PydanticCustomError(
                            "value_error",
                            "pipeline_name '{name}', derived from author, service_name, "
                            "model_class and region, must be letters, digits and hyphens; "
                            "give pipeline_name",
                            {"name": derived},
                        ),
                        loc=("pipeline_name",),
                        input=derived,
                    )
                )
        else:
            errors.append(
                InitErrorDetails(
                    type=PydanticCustomError(
                        "missing", "Field required, or author and service_name to derive it"
                    ),
                    loc=("pipeline_name",),
                    input=data,
                )
            )
        if not errors:
            model = handler({**data, "pipeline_name": derived})
            # Derived, not set: replace(author=...) derives it again.
            model.__pydantic_fields_set__.discard("pipeline_name")
            return model
        try:
            handler(data)
        except ValidationError as exc:
            errors += _error_details(exc)
        order = list(cls.model_fields)
        errors.sort(key=lambda e: order.index(e["loc"][0]) if e["loc"][0] in order else len(order))
        raise ValidationError.from_exception_data(cls.__name__, errors)

    @field_validator("role")
    @classmethod
    def _role_is_an_arn(cls, value: str) -> str:
        return check_role_arn(value)

    @field_validator("region")
    @classmethod
    def _region_code(cls, value: str) -> str:
        if value not in REGION_CODES and not _REGION.match(value):
            raise ValueError(
                f"region {value!r} is neither an AWS region code such as us-east-1 nor one of "
                f"{', '.join(REGION_CODES)}"
            )
        return value

    @field_validator("bucket")
    @classmethod
    def _bucket_name(cls, value: str) -> str:
        if not _BUCKET.match(value) or ".." in value:
            raise ValueError(f"bucket {value!r} is not a valid S3 bucket name (no s3:// prefix)")
        return value

    @field_validator("pipeline_name")
    @classmethod
    def _pipeline_name(cls, value: str | None) -> str | None:
        if value is not None and not _PIPELINE_NAME.match(value):
            raise ValueError(f"pipeline_name {value!r} must be letters, digits and hyphens")
        return value

    @field_validator(
        "processing_instance_type",
        "processing_instance_type_small",
        "processing_instance_type_large",
    )
    @classmethod
    def _instance_type(cls, value: str | None) -> str | None:
        if value is not None and not _INSTANCE_TYPE.match(value):
            raise ValueError(f"instance type {value!r} is not like ml.m5.2xlarge")
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

    @model_validator(mode="after")
    def _one_way_to_name_the_instance(self) -> Self:
        switch = [n for n in _CURSUS_INSTANCE_FIELDS if n in self.model_fields_set]
        if self.processing_instance_type is not None and switch:
            raise ValueError(
                f"processing_instance_type and {', '.join(switch)} both choose the instance "
                "type; give processing_instance_type, or cursus's large/small switch"
            )
        return self

    # ===== Tier 3: derived =====
    @property
    def aws_region(self) -> str:
        """The AWS region: `region`, or the one its cursus code stands for."""
        return REGION_CODES.get(self.region, self.region)

    @property
    def effective_instance_type(self) -> str:
        """processing_instance_type, else the large or small type as the switch says."""
        if self.processing_instance_type is not None:
            return self.processing_instance_type
        if self.use_large_processing_instance:
            return self.processing_instance_type_large
        return self.processing_instance_type_small

    @property
    def pipeline_s3_loc(self) -> str:
        """The pipeline's base path; default outputs go below it."""
        if self.pipeline_version is not None:
            folder = f"{self.pipeline_name}_{self.pipeline_version}"
            return f"s3://{self.bucket}/{CURSUS_PIPELINE_PREFIX}/{folder}"
        return f"s3://{self.bucket}/{self.pipeline_name}"
