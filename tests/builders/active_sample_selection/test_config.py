from __future__ import annotations

from typing import Any

import pytest

from builders import ActiveSampleSelectionConfig
from builders.active_sample_selection.config import (
    ENV_VARS,
    OPTIONAL_ENV_VARS,
    REQUIRED_ENV_VARS,
    engine_params,
)
from builders.active_sample_selection.contract import ACTIVE_SAMPLE_SELECTION_CONTRACT
from selection.errors import SelectionConfigError
from selection.job.config import Family
from selection.names import (
    AL_STRATEGIES,
    SSL_STRATEGIES,
    STRATEGIES_BY_USE_CASE,
    Strategy,
    UseCase,
)
from selection.strategies import Badge
from tests.builders.helpers import BASE_FIELDS, CONF

ENTRY = "active_sample_selection.py"


def config(**fields: Any) -> ActiveSampleSelectionConfig:
    return ActiveSampleSelectionConfig(
        **{**BASE_FIELDS, "selection_strategy": "confidence_threshold", **fields}
    )


@pytest.mark.parametrize("use_case", list(UseCase))
@pytest.mark.parametrize("strategy", list(Strategy))
def test_strategy_and_use_case(strategy: Strategy, use_case: UseCase) -> None:
    if strategy in STRATEGIES_BY_USE_CASE[use_case]:
        assert config(selection_strategy=strategy, use_case=use_case).selection_strategy is strategy
        return
    # The job refuses the same pairs; the config says why, in the design document's words.
    with pytest.raises(SelectionConfigError):
        engine_params({"SELECTION_STRATEGY": strategy, "USE_CASE": use_case})
    phrase = "NOT valid for SSL!" if use_case is UseCase.SSL else "NOT recommended for Active"
    with pytest.raises(ValueError, match=phrase):
        config(selection_strategy=strategy, use_case=use_case)


def test_mismatch_messages_say_why_and_how_to_fix() -> None:
    with pytest.raises(ValueError) as ssl:
        config(selection_strategy="uncertainty", use_case="ssl")
    assert (
        "Strategy 'uncertainty' is NOT valid for SSL! It selects uncertain rows, whose "
        "pseudo-labels would be noisy; use confidence_threshold or top_k_per_class, or "
        "use_case='auto'"
    ) in str(ssl.value)
    with pytest.raises(ValueError) as al:
        config(selection_strategy="top_k_per_class", use_case="active_learning")
    assert (
        "Strategy 'top_k_per_class' is NOT recommended for Active Learning! It selects "
        "confident rows, which spends labelling effort on easy ones; use uncertainty, "
        "diversity, badge, random or cluster_margin, or use_case='auto'"
    ) in str(al.value)


def test_strategy_defaults_to_confidence_threshold() -> None:
    assert "selection_strategy" in ActiveSampleSelectionConfig.tiers()["system"]
    chosen = ActiveSampleSelectionConfig(**BASE_FIELDS)
    assert chosen.selection_strategy is Strategy.CONFIDENCE_THRESHOLD
    # The job requires the variable: the step always sends it.
    assert chosen.get_environment_variables()["SELECTION_STRATEGY"] == "confidence_threshold"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("selection_strategy", "coreset", "Input should be"),
        ("use_case", "semi", "Input should be"),
        ("output_format", "json", "Input should be"),
        ("uncertainty_mode", "variance", "Input should be"),
        ("metric", "manhattan", "Input should be"),
        ("confidence_threshold", 0.49, "must be between 0.5 and 1.0, got 0.49"),
        ("confidence_threshold", 1.5, "must be between 0.5 and 1.0, got 1.5"),
        ("max_samples", -1, "greater than or equal to 0"),
        ("k_per_class", 0, "greater than or equal to 1"),
        ("batch_size", 0, "greater than or equal to 1"),
        ("kmeans_rounds", 0, "greater than or equal to 1"),
        ("random_seed", -1, "greater than or equal to 0"),
        ("prob_sum_tolerance", 1.0, "less than 1"),
        ("prob_sum_tolerance", -0.1, "greater than or equal to 0"),
        ("normalize_scores", "maybe", "valid boolean"),
        ("check_unique_ids", "maybe", "valid boolean"),
        ("batch_size", 2.5, "valid integer"),
        ("id_field", "", "ID_FIELD must not be empty"),
        ("score_field_prefix", "", "SCORE_FIELD_PREFIX"),
        ("feature_fields", ["a", " "], "non-empty column name"),
        ("spark_log_level", "LOUD", "not one of"),
        ("job_type", "training", "not one of"),
        ("framework_version", "3.3", "'3.3' is not the Spark image's"),
        ("processing_framework_version", "1.2-1", "names a scikit-learn image"),
        ("processing_entry_point", "my_script.py", "ships and runs active_sample_selection.py"),
        ("py_version", "py39", "Input should be 'py312'"),
        ("container_version", "v1", "should match pattern"),
        ("image_uri", " ", "must not be blank"),
        ("spark_executor_memory", "4", "size with a unit"),
        ("spark_driver_memory", "lots", "size with a unit"),
        ("spark_executor_cores", 0, "greater than or equal to 1"),
        ("spark_sql_shuffle_partitions", 0, "greater than or equal to 1"),
        ("spark_defaults", {"executor.memory": "4g"}, "must start with 'spark.'"),
        ("spark_defaults", {"spark.executor.memory": "4g"}, "through the field"),
        ("spark_event_logs_s3_uri", "/tmp/events", "must be an s3:// URI"),
        ("selection_stratgy", "badge", "Extra inputs are not permitted"),
    ],
)
def test_invalid_field(field: str, value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        config(**{field: value})


def test_cursus_names_of_this_projects_fields() -> None:
    chosen = config(processing_framework_version="3.5", processing_entry_point=ENTRY)
    assert (chosen.framework_version, chosen.processing_entry_point) == ("3.5", ENTRY)
    assert "processing_framework_version" not in chosen.model_dump()  # one field, one name out
    with pytest.raises(ValueError, match="framework_version and processing_framework_version"):
        config(framework_version="3.5", processing_framework_version="3.5")


@pytest.mark.parametrize(
    ("field", "accepted", "refused"),
    [
        ("CONFIDENCE_THRESHOLD", ("0.5", "1.0"), ("0.4999", "1.0001")),
        ("MAX_SAMPLES", ("0",), ("-1",)),
        ("K_PER_CLASS", ("1",), ("0",)),
        ("BATCH_SIZE", ("1",), ("0",)),
        ("KMEANS_ROUNDS", ("1",), ("0",)),
        ("RANDOM_SEED", ("0",), ("-1",)),
        ("PROB_SUM_TOLERANCE", ("0", "0.999"), ("1", "-0.001")),
    ],
)
def test_field_bounds_are_the_engines_bounds(
    field: str, accepted: tuple[str, ...], refused: tuple[str, ...]
) -> None:
    for text, ok in [(t, True) for t in accepted] + [(t, False) for t in refused]:
        env = {"SELECTION_STRATEGY": "uncertainty", field: text}
        try:
            engine_params(env)
            engine_ok = True
        except SelectionConfigError:
            engine_ok = False
        try:
            config(selection_strategy="uncertainty", **{field.lower(): text})
            config_ok = True
        except ValueError:
            config_ok = False
        assert (engine_ok, config_ok) == (ok, ok), (field, text)


@pytest.mark.parametrize("strategy", list(Strategy))
def test_every_contract_variable_is_a_field_and_required_ones_are_always_sent(
    strategy: Strategy,
) -> None:
    fields = ActiveSampleSelectionConfig.model_fields
    assert all(v.name.lower() in fields for v in ENV_VARS)
    env = config(selection_strategy=strategy).get_environment_variables()
    assert REQUIRED_ENV_VARS and all(env[name] for name in REQUIRED_ENV_VARS)


def test_defaults_are_the_contract_defaults() -> None:
    env = config().all_environment_variables()
    assert env == {**OPTIONAL_ENV_VARS, "SELECTION_STRATEGY": "confidence_threshold"}
    assert set(env) == set(ACTIVE_SAMPLE_SELECTION_CONTRACT.env_var_names)


@pytest.mark.parametrize("strategy", list(Strategy))
def test_environment_holds_only_the_strategy_family(strategy: Strategy) -> None:
    env = config(selection_strategy=strategy).get_environment_variables()
    family = Family.SSL if strategy in SSL_STRATEGIES else Family.ACTIVE_LEARNING
    expected = {v.name for v in ENV_VARS if v.family in (Family.COMMON, Family.RUNTIME, family)}
    assert set(env) == expected
    assert ("CONFIDENCE_THRESHOLD" in env) == (strategy in SSL_STRATEGIES)
    assert ("BATCH_SIZE" in env) == (strategy in AL_STRATEGIES)


def test_environment_parses_back_to_the_configured_values() -> None:
    chosen = config(
        selection_strategy="badge",
        use_case="active_learning",
        batch_size=64,
        metric="cosine",
        feature_fields="emb_0, emb_1",
        normalize_scores=True,
        prob_sum_tolerance=1e-5,
        id_field="user_id",
        label_field="label",
        output_format="parquet",
        spark_log_level="info",
    )
    job = engine_params(chosen.get_environment_variables())
    params = job.selection
    assert isinstance(params, Badge)
    assert job.strategy is Strategy.BADGE and job.use_case is UseCase.ACTIVE_LEARNING
    assert (params.batch_size, params.metric, params.features) == (
        64,
        "cosine",
        ("emb_0", "emb_1"),
    )
    assert (params.scores.normalize, job.prob_sum_tolerance) == (True, 1e-5)
    assert (params.id_col, job.label_field, job.output_format) == (
        "user_id",
        "label",
        "parquet",
    )
    assert chosen.get_environment_variables()["SPARK_LOG_LEVEL"] == "INFO"


def test_job_type_follows_the_strategy_unless_given() -> None:
    assert config().resolved_job_type == "ssl_selection"
    assert config(selection_strategy="diversity").resolved_job_type == "active_learning_selection"
    assert config(job_type="active_learning_selection").resolved_job_type == (
        "active_learning_selection"
    )


def test_spark_configuration() -> None:
    assert config().spark_configuration is None
    chosen = config(
        spark_sql_shuffle_partitions=64,
        spark_executor_memory="8g",
        spark_defaults={"spark.sql.adaptive.enabled": "true"},
    )
    assert chosen.spark_configuration == [
        {
            "Classification": "spark-defaults",
            "Properties": {
                "spark.executor.memory": "8g",
                "spark.sql.adaptive.enabled": "true",
                "spark.sql.shuffle.partitions": "64",
            },
        }
    ]


def test_several_instances_read_s3_directly() -> None:
    assert not config().reads_s3_directly
    assert config(processing_instance_count=2).reads_s3_directly


def test_conf_examples() -> None:
    ssl = ActiveSampleSelectionConfig.from_file(CONF / "ssl_step.yaml")
    al = ActiveSampleSelectionConfig.from_file(CONF / "active_learning_step.yaml")
    assert (ssl.use_case, ssl.family, ssl.reads_s3_directly) == ("ssl", Family.SSL, False)
    assert (al.use_case, al.family, al.reads_s3_directly) == (
        "active_learning",
        Family.ACTIVE_LEARNING,
        True,
    )
    with pytest.raises(ValueError, match="NOT valid for SSL"):
        ActiveSampleSelectionConfig.from_file(CONF / "ssl_step.yaml", selection_strategy="badge")
    cursus = ActiveSampleSelectionConfig.from_file(CONF / "cursus_ssl_step.yaml")
    assert (cursus.pipeline_name, cursus.aws_region, cursus.effective_instance_type) == (
        "data-scientist-recommendation-xgboost-NA",
        "us-east-1",
        "ml.m5.2xlarge",
    )
    assert cursus.get_environment_variables()["MAX_SAMPLES"] == "10000"


def test_trusted_pseudo_label_fields_reach_the_job() -> None:
    trusted = ActiveSampleSelectionConfig.from_file(CONF / "ssl_trusted_step.yaml")
    env = trusted.get_environment_variables()
    assert (env["CONFIDENCE_THRESHOLD"], env["TARGET_ACCURACY"], env["CALIBRATION"]) == (
        "auto",
        "0.95",
        "temperature",
    )
    assert (env["MAX_PER_CLASS"], env["CONFIDENCE_LEVEL"]) == ("20000", "0.95")
    job = engine_params(env)
    assert job.selection.threshold == "auto"  # type: ignore[union-attr]
    assert config(confidence_threshold="AUTO", target_accuracy=0.9).confidence_threshold == "auto"


def test_trusted_fields_are_checked_by_the_engine() -> None:
    with pytest.raises(ValueError, match=r"TARGET_ACCURACY=0\.9 needs threshold='auto'"):
        config(target_accuracy=0.9)
    with pytest.raises(ValueError, match=r"TARGET_ACCURACY=0.0 must be in \(0, 1\)"):
        config(confidence_threshold="auto")
    with pytest.raises(ValueError, match="calibration"):
        config(calibration="platt")
