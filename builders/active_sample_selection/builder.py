"""ActiveSampleSelectionStepBuilder: the selection job as a PySparkProcessor ProcessingStep."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from builders import sdk
from builders.active_sample_selection.config import ActiveSampleSelectionConfig
from builders.active_sample_selection.package import stage_code
from builders.active_sample_selection.spec import ACTIVE_SAMPLE_SELECTION_SPEC
from builders.base.builder import Source, StepBuilderBase
from builders.base.errors import BuilderError
from selection.names import JOB_TYPE_ARGUMENT, OVERWRITE_ARGUMENT, PATH_ARGUMENTS

# Outputs are also declared as ProcessingOutputs, whose destinations must be s3://.
_INPUT_SCHEMES = ("s3://", "s3a://")
_OUTPUT_SCHEMES = ("s3://",)
log = logging.getLogger(__name__)


class ActiveSampleSelectionStepBuilder(StepBuilderBase[ActiveSampleSelectionConfig]):
    """Builds the step; `create_step` is the only method a pipeline author needs.

    One instance: inputs arrive in the container's input channels and the job writes to its
    output channels, which SageMaker uploads. Several instances: a channel exists on every
    node but Spark's tasks are spread over all of them, so the job gets the S3 URIs as
    arguments and reads and writes S3 itself; the outputs are still declared (with the same
    URIs) so their property paths resolve for downstream steps.
    """

    spec = ACTIVE_SAMPLE_SELECTION_SPEC
    config_class = ActiveSampleSelectionConfig

    def processor(self) -> sdk.PySparkProcessor:
        config = self.config
        env: dict[str, Any] = config.get_environment_variables()  # the SDK's type is wider
        return sdk.PySparkProcessor(
            role=self.role,
            instance_type=config.effective_instance_type,
            instance_count=config.processing_instance_count,
            framework_version=config.framework_version,
            py_version=config.py_version,
            container_version=config.container_version,
            image_uri=config.image_uri,
            volume_size_in_gb=config.processing_volume_size,
            max_runtime_in_seconds=config.max_runtime_in_seconds,
            base_job_name=self.base_job_name,
            sagemaker_session=self.session,
            env=env,
        )

    def job_arguments(
        self, sources: Mapping[str, Source], destinations: Mapping[str, Source]
    ) -> list[Any]:
        arguments: list[Any] = [JOB_TYPE_ARGUMENT, self.config.resolved_job_type]
        if self.config.overwrite_outputs:
            arguments.append(OVERWRITE_ARGUMENT)
        if self.config.reads_s3_directly:
            for name, uri in {**sources, **destinations}.items():
                arguments += [PATH_ARGUMENTS[name], uri]
        return arguments

    def _check_direct_s3(self, uris: Mapping[str, Source], schemes: tuple[str, ...]) -> None:
        for name, uri in uris.items():
            if isinstance(uri, str) and not uri.startswith(schemes):
                raise BuilderError(
                    f"{self.step_name}: with processing_instance_count > 1 Spark reads and "
                    f"writes S3 directly, so {name!r} must be an {' or '.join(schemes)} URI, "
                    f"not {uri!r}"
                )

    def create_step(
        self,
        *,
        inputs: Mapping[str, Source] | None = None,
        outputs: Mapping[str, Source] | None = None,
        dependencies: Sequence[Any] = (),
        enable_caching: bool = True,
    ) -> sdk.ProcessingStep:
        """The ProcessingStep; `inputs`/`outputs` are keyed by the spec's logical names.

        `evaluation_data` may come from `inputs` or from a step in `dependencies` whose
        attached specification has a matching output; `labeled_data` is optional.
        """
        for name in ("processing_source_dir", "project_root_folder"):
            if getattr(self.config, name) is not None:
                log.info(
                    "%s: %s is not used; the step ships the job and the selection package of "
                    "this installation",
                    self.step_name,
                    name,
                )
        sources = self.collect_inputs(inputs, dependencies)
        destinations = self.collect_outputs(outputs)
        if self.config.reads_s3_directly:
            self._check_direct_s3(sources, _INPUT_SCHEMES)
            self._check_direct_s3(destinations, _OUTPUT_SCHEMES)
            channel_inputs: Mapping[str, Source] = {}
            if enable_caching and set(destinations) - set(outputs or {}):
                log.warning(
                    "%s: the output URIs are job arguments here, and arguments are part of the "
                    "cache key; the default ones hold the execution id, so the step reruns on "
                    "every execution",
                    self.step_name,
                )
        else:
            channel_inputs = sources
        code = stage_code(self.staging_dir)
        step_args = self.processor().run(
            submit_app=str(code.submit_app),
            submit_py_files=[str(code.py_files)],
            inputs=self.processing_inputs(channel_inputs),
            outputs=self.processing_outputs(destinations),
            arguments=self.job_arguments(sources, destinations),
            configuration=self.config.spark_configuration,
            spark_event_logs_s3_uri=self.config.spark_event_logs_s3_uri,
        )
        step = sdk.ProcessingStep(
            name=self.step_name,
            step_args=step_args,
            depends_on=list(dependencies) or None,
            cache_config=self.cache_config(enable_caching),
        )
        return self.finish(step)
