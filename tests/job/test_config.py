import pytest

from selection.errors import SelectionConfigError
from selection.job.config import OPTIONAL_ENV_VARS, job_params_from_env
from selection.names import Metric, Strategy, UncertaintyMode, UseCase
from selection.strategies import Badge, ConfidenceThreshold, TopKPerClass, Uncertainty


def test_defaults_follow_the_contract_table() -> None:
    job = job_params_from_env({"SELECTION_STRATEGY": "uncertainty"})
    assert job.strategy is Strategy.UNCERTAINTY
    assert job.use_case is UseCase.AUTO
    assert isinstance(job.selection, Uncertainty)
    assert job.selection.batch_size == 32 == int(OPTIONAL_ENV_VARS["BATCH_SIZE"])
    assert job.selection.mode is UncertaintyMode.MARGIN
    assert job.check_unique_ids is True
    assert ConfidenceThreshold.threshold == float(OPTIONAL_ENV_VARS["CONFIDENCE_THRESHOLD"])
    assert TopKPerClass.k == int(OPTIONAL_ENV_VARS["K_PER_CLASS"])
    badge = job_params_from_env({"SELECTION_STRATEGY": "badge"}).selection
    assert isinstance(badge, Badge)
    assert (badge.metric, badge.features, badge.rounds) == (Metric.EUCLIDEAN, (), 5)


def test_values_are_parsed_case_insensitively_and_trimmed() -> None:
    job = job_params_from_env(
        {
            "SELECTION_STRATEGY": " Top_K_Per_Class ",
            "USE_CASE": "SSL",
            "K_PER_CLASS": "7",
            "NORMALIZE_SCORES": "yes",
            "CHECK_UNIQUE_IDS": "false",
        }
    )
    assert job.strategy is Strategy.TOP_K_PER_CLASS
    assert job.is_ssl
    assert isinstance(job.selection, TopKPerClass) and job.selection.k == 7
    assert job.selection.scores.normalize and not job.check_unique_ids
    features = job_params_from_env({"SELECTION_STRATEGY": "diversity", "FEATURE_FIELDS": "a, b,,c"})
    assert features.selection.features == ("a", "b", "c")  # type: ignore[union-attr]


def test_to_json_is_typed() -> None:
    doc = job_params_from_env({"SELECTION_STRATEGY": "badge", "FEATURE_FIELDS": "x"}).to_json()
    assert doc["strategy"] == "badge"
    assert doc["batch_size"] == 32
    assert doc["feature_fields"] == ["x"]
    assert isinstance(doc["confidence_threshold"], float)


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({}, "SELECTION_STRATEGY is required"),
        ({"SELECTION_STRATEGY": "coreset"}, "SELECTION_STRATEGY='coreset' is not one of"),
        ({"SELECTION_STRATEGY": "uncertainty", "UNCERTAINTY_MODE": "variance"}, "UNCERTAINTY_MODE"),
        ({"SELECTION_STRATEGY": "diversity", "METRIC": "manhattan"}, "METRIC='manhattan'"),
        ({"SELECTION_STRATEGY": "uncertainty", "OUTPUT_FORMAT": "json"}, "OUTPUT_FORMAT"),
        (
            {"SELECTION_STRATEGY": "uncertainty", "USE_CASE": "ssl"},
            "Strategy 'uncertainty' is NOT valid for SSL",
        ),
        (
            {"SELECTION_STRATEGY": "confidence_threshold", "USE_CASE": "active_learning"},
            "NOT valid for active learning",
        ),
        (
            {"SELECTION_STRATEGY": "confidence_threshold", "CONFIDENCE_THRESHOLD": "0.4"},
            "outside [0.5, 1.0]",
        ),
        (
            {"SELECTION_STRATEGY": "confidence_threshold", "CONFIDENCE_THRESHOLD": "1.01"},
            "outside [0.5, 1.0]",
        ),
        (
            {"SELECTION_STRATEGY": "confidence_threshold", "CONFIDENCE_THRESHOLD": "nan"},
            "not a finite number",
        ),
        ({"SELECTION_STRATEGY": "confidence_threshold", "MAX_SAMPLES": "-1"}, "MAX_SAMPLES=-1"),
        ({"SELECTION_STRATEGY": "uncertainty", "BATCH_SIZE": "0"}, "BATCH_SIZE=0 must be >= 1"),
        ({"SELECTION_STRATEGY": "uncertainty", "BATCH_SIZE": "3.5"}, "is not an integer"),
        ({"SELECTION_STRATEGY": "top_k_per_class", "K_PER_CLASS": "-3"}, "K_PER_CLASS=-3"),
        ({"SELECTION_STRATEGY": "uncertainty", "NORMALIZE_SCORES": "maybe"}, "not a boolean"),
        ({"SELECTION_STRATEGY": "uncertainty", "PROB_SUM_TOLERANCE": "2"}, "PROB_SUM_TOLERANCE"),
        ({"SELECTION_STRATEGY": "uncertainty", "ID_FIELD": " "}, "ID_FIELD must not be empty"),
    ],
)
def test_invalid_configuration_names_the_variable(env: dict[str, str], fragment: str) -> None:
    with pytest.raises(SelectionConfigError) as info:
        job_params_from_env(env)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_values_are_never_evaluated() -> None:
    with pytest.raises(SelectionConfigError, match="is not an integer"):
        job_params_from_env({"SELECTION_STRATEGY": "uncertainty", "BATCH_SIZE": "__import__('os')"})
