from __future__ import annotations

from builders.active_sample_selection.contract import ACTIVE_SAMPLE_SELECTION_CONTRACT
from builders.active_sample_selection.spec import ACTIVE_SAMPLE_SELECTION_SPEC as SPEC
from builders.base.resolver import match_score
from builders.base.spec import DependencySpec, DependencyType, NodeType, contract_mismatches


def test_spec_agrees_with_the_contract() -> None:
    assert SPEC.script_contract is ACTIVE_SAMPLE_SELECTION_CONTRACT
    assert contract_mismatches(SPEC, ACTIVE_SAMPLE_SELECTION_CONTRACT) == []
    assert SPEC.step_type == "ActiveSampleSelection"
    assert SPEC.node_type is NodeType.INTERNAL


def test_evaluation_data_is_required_and_labeled_data_optional() -> None:
    assert [d.logical_name for d in SPEC.required_dependencies] == ["evaluation_data"]
    assert SPEC.dependencies["labeled_data"].required is False


def test_evaluation_data_sources_and_keywords() -> None:
    dependency = SPEC.dependencies["evaluation_data"]
    for family in ("XGBoost", "LightGBM", "PyTorch"):
        assert f"{family}ModelInference" in dependency.compatible_sources
        assert f"{family}ModelEval" in dependency.compatible_sources
    for source in ("BedrockBatchProcessing", "BedrockProcessing", "LabelRulesetExecution"):
        assert source in dependency.compatible_sources
    for keyword in ("predictions", "eval_output", "processed_data", "probabilities"):
        assert keyword in dependency.semantic_keywords
    assert dependency.data_type == "S3Uri"


def test_output_property_paths_and_aliases() -> None:
    for name in ("selected_samples", "selection_metadata"):
        assert SPEC.outputs[name].property_path == (
            f"properties.ProcessingOutputConfig.Outputs['{name}'].S3Output.S3Uri"
        )
    selected = SPEC.outputs["selected_samples"].aliases
    for alias in ("input_path", "input_data", "processed_data", "pseudo_labeled_samples"):
        assert alias in selected
    assert "metadata" in SPEC.outputs["selection_metadata"].aliases


def test_a_training_step_asking_for_input_path_takes_the_selected_samples() -> None:
    training_input = DependencySpec(
        logical_name="input_path",
        dependency_type=DependencyType.PROCESSING_OUTPUT,
        compatible_sources=("ActiveSampleSelection", "TabularPreprocessing"),
    )
    scores = {
        name: match_score(training_input, SPEC.step_type, output)
        for name, output in SPEC.outputs.items()
    }
    assert scores == {"selected_samples": 1.0, "selection_metadata": 0.0}


def test_validation_data_is_optional_and_narrow() -> None:
    dependency = SPEC.dependencies["validation_data"]
    assert dependency.required is False
    assert "XGBoostModelEval" in dependency.compatible_sources
    # A generic prediction output of an inference step must not fill it.
    assert "predictions" not in dependency.semantic_keywords
    assert "evaluation_data" in ACTIVE_SAMPLE_SELECTION_CONTRACT.expected_input_paths
    paths = ACTIVE_SAMPLE_SELECTION_CONTRACT.expected_input_paths
    assert paths["validation_data"] == "/opt/ml/processing/input/validation_data"
