"""ACTIVE_SAMPLE_SELECTION_SPEC: what the step consumes and produces, for dependency resolution."""

from __future__ import annotations

from builders.active_sample_selection.contract import ACTIVE_SAMPLE_SELECTION_CONTRACT
from builders.base.spec import (
    DependencySpec,
    DependencyType,
    NodeType,
    OutputSpec,
    StepSpecification,
)
from selection.names import (
    INPUT_EVALUATION_DATA,
    INPUT_LABELED_DATA,
    INPUT_VALIDATION_DATA,
    OUTPUT_SELECTED_SAMPLES,
    OUTPUT_SELECTION_METADATA,
)

STEP_TYPE = "ActiveSampleSelection"


def processing_output_path(logical_name: str) -> str:
    return f"properties.ProcessingOutputConfig.Outputs['{logical_name}'].S3Output.S3Uri"


ACTIVE_SAMPLE_SELECTION_SPEC = StepSpecification(
    step_type=STEP_TYPE,
    node_type=NodeType.INTERNAL,
    script_contract=ACTIVE_SAMPLE_SELECTION_CONTRACT,
    dependencies={
        INPUT_EVALUATION_DATA: DependencySpec(
            logical_name=INPUT_EVALUATION_DATA,
            dependency_type=DependencyType.PROCESSING_OUTPUT,
            required=True,
            compatible_sources=(
                "XGBoostModelInference",
                "LightGBMModelInference",
                "PyTorchModelInference",
                "XGBoostModelEval",
                "LightGBMModelEval",
                "PyTorchModelEval",
                "BedrockBatchProcessing",
                "BedrockProcessing",
                "LabelRulesetExecution",
            ),
            semantic_keywords=(
                "evaluation",
                "predictions",
                "inference",
                "model_predictions",
                "inference_results",
                "eval_output",
                "prediction_data",
                "processed_data",
                "classification_output",
                "probabilities",
            ),
            data_type="S3Uri",
            description="model predictions with prob_class_* columns (csv, tsv or parquet)",
        ),
        INPUT_LABELED_DATA: DependencySpec(
            logical_name=INPUT_LABELED_DATA,
            dependency_type=DependencyType.PROCESSING_OUTPUT,
            required=False,
            compatible_sources=("PseudoLabelMerge", "TabularPreprocessing", "CradleDataLoading"),
            # Narrow on purpose: an optional input must not pick up a generic data output.
            semantic_keywords=("labeled_data", "labelled_data", "labeled_samples", "ground_truth"),
            data_type="S3Uri",
            description="rows already labelled; their ids are never selected",
        ),
        INPUT_VALIDATION_DATA: DependencySpec(
            logical_name=INPUT_VALIDATION_DATA,
            dependency_type=DependencyType.PROCESSING_OUTPUT,
            required=False,
            # The same model's predictions on a labelled hold-out: an evaluation step's output.
            compatible_sources=(
                "XGBoostModelEval",
                "LightGBMModelEval",
                "PyTorchModelEval",
                "XGBoostModelInference",
                "LightGBMModelInference",
                "PyTorchModelInference",
            ),
            # Narrow on purpose, as for labeled_data: only an output named for validation.
            semantic_keywords=("validation_data", "validation_predictions", "calibration_data"),
            data_type="S3Uri",
            description="the same model's predictions on rows of known label (LABEL_FIELD), "
            "for CONFIDENCE_THRESHOLD=auto and CALIBRATION=temperature",
        ),
    },
    outputs={
        OUTPUT_SELECTED_SAMPLES: OutputSpec(
            logical_name=OUTPUT_SELECTED_SAMPLES,
            output_type=DependencyType.PROCESSING_OUTPUT,
            property_path=processing_output_path(OUTPUT_SELECTED_SAMPLES),
            aliases=(
                "active_samples",
                "high_confidence_samples",
                "pseudo_labeled_samples",
                "uncertain_samples",
                "selection_output",
                # Training steps ask for these names; they let them consume the SSL output.
                "input_path",
                "input_data",
                "processed_data",
            ),
            data_type="S3Uri",
            description="selected rows with pseudo_label/confidence or uncertainty_score, "
            "data_source and selection_rank",
        ),
        OUTPUT_SELECTION_METADATA: OutputSpec(
            logical_name=OUTPUT_SELECTION_METADATA,
            output_type=DependencyType.PROCESSING_OUTPUT,
            property_path=processing_output_path(OUTPUT_SELECTION_METADATA),
            aliases=("metadata", "selection_info", "sampling_metadata"),
            data_type="S3Uri",
            description="selection_metadata.json: parameters, counts, timings",
        ),
    },
)
