"""The parameter classes validate what the job validates, and speak the library's names."""

from __future__ import annotations

import dataclasses

import pytest

from selection import (
    PARAMS_BY_STRATEGY,
    Badge,
    ConfidenceThreshold,
    Diversity,
    ScoreSpec,
    SelectionConfigError,
    SelectionParamError,
    Strategy,
    TopKPerClass,
    Uncertainty,
    UncertaintyMode,
    confidence_threshold,
    top_k_per_class,
    uncertainty,
)
from selection.job.config import ENV_VARS


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: uncertainty(batch_size=0), "batch_size=0 must be >= 1"),
        (lambda: confidence_threshold(2.0), "threshold=2.0 is outside [0.5, 1.0]"),
        (lambda: confidence_threshold(float("nan")), "threshold=nan is not a finite number"),
        (lambda: top_k_per_class(k=0), "k=0 must be >= 1"),
        (lambda: top_k_per_class(max_samples=-1), "max_samples=-1 must be >= 0"),
        (lambda: Badge(rounds=0), "rounds=0 must be >= 1"),
        (lambda: Diversity(metric="manhattan"), "metric='manhattan' is not one of"),
        (lambda: uncertainty(mode="variance"), "mode='variance' is not one of"),
        (lambda: Uncertainty(id_col=" "), "id_col must not be empty"),
        (lambda: Uncertainty(seed=-1), "seed=-1 must be >= 0"),
        (lambda: Uncertainty(scores=ScoreSpec(prefix="")), "needs ScoreSpec(prefix=...)"),
        (lambda: Diversity(features="f0,f1"), "features='f0,f1' must be a list"),  # type: ignore[arg-type]
    ],
)
def test_library_rejects_what_the_job_rejects(build: object, message: str) -> None:
    with pytest.raises(SelectionParamError) as info:
        build()  # type: ignore[operator]
    assert message in str(info.value)
    assert isinstance(info.value, SelectionConfigError) and isinstance(info.value, ValueError)


def test_strings_become_enums_and_lists_tuples() -> None:
    params = Diversity(features=["a", "b"], metric="COSINE", mode="entropy")  # type: ignore[arg-type]
    assert params.features == ("a", "b")
    assert params.mode is UncertaintyMode.ENTROPY
    assert params.metric.value == "cosine"
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.batch_size = 3  # type: ignore[misc]


def test_every_strategy_has_one_parameter_class() -> None:
    assert set(PARAMS_BY_STRATEGY) == set(Strategy)
    for strategy, cls in PARAMS_BY_STRATEGY.items():
        assert cls.strategy is strategy
        assert cls().strategy is strategy  # every parameter has a default


def test_every_parameter_has_a_doc_and_a_variable_where_the_job_reads_it() -> None:
    bound = {(v.owner, v.field) for v in ENV_VARS}
    for cls in (ConfidenceThreshold, TopKPerClass, Uncertainty, Diversity, Badge):
        for f in dataclasses.fields(cls):
            if f.name == "scores":
                continue  # its three fields have variables of their own
            assert f.metadata.get("doc"), f"{cls.__name__}.{f.name} has no doc"
            owners = [c for c in cls.__mro__ if (c, f.name) in bound]
            assert owners, f"{cls.__name__}.{f.name} has no environment variable"
