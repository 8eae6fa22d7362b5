from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from pyspark.sql import DataFrame, SparkSession
from scipy.optimize import minimize_scalar

from selection import ScoreSpec, fit_class_thresholds, fit_temperature
from selection.strategies.calibration import ECE_BINS, PROB_FLOOR

CLASSES = 4


def _tempered(
    n: int, true_t: float, seed: int, classes: int = CLASSES
) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from known posteriors, and a model whose probabilities are the posteriors
    raised to true_t and normalised (true_t > 1: over-confident), so the fit should find T near
    true_t."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=2.0, size=(n, classes))
    posterior = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(classes, p=p) for p in posterior])
    model = np.exp(logits * true_t)
    return model / model.sum(axis=1, keepdims=True), labels


def _frame(spark: SparkSession, probs: np.ndarray, labels: np.ndarray) -> DataFrame:
    rows = [(i, int(labels[i]), *map(float, probs[i])) for i in range(len(labels))]
    columns = ["id", "label", *[f"prob_class_{c}" for c in range(probs.shape[1])]]
    return spark.createDataFrame(rows, columns).repartition(3)


def _nll(probs: np.ndarray, labels: np.ndarray, beta: float) -> float:
    z = np.log(np.maximum(probs, PROB_FLOOR)) * beta
    z -= z.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(labels)), labels].mean())


def _ece(probs: np.ndarray, labels: np.ndarray) -> float:
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    bins = np.minimum((confidence * ECE_BINS).astype(int), ECE_BINS - 1)
    gap = 0.0
    for b in range(ECE_BINS):
        inside = bins == b
        gap += abs(correct[inside].sum() - confidence[inside].sum())
    return gap / len(labels)


def _calibrated(probs: np.ndarray, temperature: float) -> np.ndarray:
    powered = probs ** (1.0 / temperature)
    return powered / powered.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("true_t", [0.5, 2.0])
def test_temperature_matches_a_numpy_reference(spark: SparkSession, true_t: float) -> None:
    probs, labels = _tempered(2000, true_t, seed=3)
    fit = fit_temperature(_frame(spark, probs, labels), label_col="label")
    reference = minimize_scalar(
        lambda b: _nll(probs, labels, b),
        bounds=(1e-2, 1e2),
        method="bounded",
        options={"xatol": 1e-10},
    )
    assert fit.temperature == pytest.approx(1.0 / reference.x, rel=1e-6)
    assert fit.temperature == pytest.approx(true_t, rel=0.15)  # the truth, up to sampling
    assert fit.nll_before == pytest.approx(_nll(probs, labels, 1.0), rel=1e-9)
    assert fit.nll_after == pytest.approx(reference.fun, rel=1e-9)
    assert fit.nll_after < fit.nll_before
    assert fit.ece_before == pytest.approx(_ece(probs, labels), abs=1e-9)
    assert fit.ece_after == pytest.approx(
        _ece(_calibrated(probs, fit.temperature), labels), abs=1e-9
    )
    assert fit.ece_after < fit.ece_before
    assert fit.validation_rows == 2000


def test_many_classes_take_the_array_path(spark: SparkSession) -> None:
    # Past TREE_TERMS classes the sums are array aggregates; the fit must not change.
    probs, labels = _tempered(300, 2.0, seed=5, classes=40)
    fit = fit_temperature(_frame(spark, probs, labels), label_col="label")
    reference = minimize_scalar(
        lambda b: _nll(probs, labels, b),
        bounds=(1e-2, 1e2),
        method="bounded",
        options={"xatol": 1e-10},
    )
    assert fit.temperature == pytest.approx(1.0 / reference.x, rel=1e-6)
    assert fit.ece_after == pytest.approx(
        _ece(_calibrated(probs, fit.temperature), labels), abs=1e-9
    )


def test_score_spec_temperature_scales_the_probabilities(spark: SparkSession) -> None:
    probs, labels = _tempered(50, 0.5, seed=4)
    df = _frame(spark, probs, labels)
    spec = ScoreSpec(temperature=2.5)
    rows = df.select("id", *spec.probabilities(df)).collect()
    got = np.array([list(r)[1:] for r in rows], dtype=float)
    expected = _calibrated(probs[[int(r["id"]) for r in rows]], 2.5)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_score_spec_refuses_a_non_positive_temperature() -> None:
    with pytest.raises(ValueError, match=r"temperature=...\)=0.0 must be a positive number"):
        ScoreSpec(temperature=0.0)


def _counted(spark: SparkSession, probs: np.ndarray, labels: np.ndarray) -> tuple[DataFrame, Any]:
    """A frame whose every scan adds its row count to an accumulator (no cache in between)."""
    reads = spark.sparkContext.accumulator(0)

    def read(row: tuple[Any, ...]) -> tuple[Any, ...]:
        reads.add(1)
        return row

    rows = [(i, int(labels[i]), *map(float, probs[i])) for i in range(len(labels))]
    schema = ", ".join(
        ["id long", "label long", *[f"prob_class_{c} double" for c in range(probs.shape[1])]]
    )
    return spark.createDataFrame(spark.sparkContext.parallelize(rows, 3).map(read), schema), reads


def _jobs(spark: SparkSession, group: str) -> int:
    return len(spark.sparkContext.statusTracker().getJobIdsForGroup(group))


def test_the_fit_reads_the_validation_set_once(spark: SparkSession) -> None:
    probs, labels = _tempered(400, 2.0, seed=6)
    df, reads = _counted(spark, probs, labels)
    spark.sparkContext.setJobGroup("calibration-scans", "the temperature fit")
    try:
        fit = fit_temperature(df, label_col="label", ece_after=False)
        jobs = _jobs(spark, "calibration-scans")
        scans = reads.value / len(labels)
        thresholds = fit_class_thresholds(
            df,
            label_col="label",
            num_classes=CLASSES,
            target_accuracy=0.9,
            scores=ScoreSpec(temperature=fit.temperature),
        )
        both = reads.value / len(labels)
    finally:
        spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]
    assert (scans, fit.scans, fit.ece_after) == (1.0, 1, None)
    # One aggregate: adaptive execution runs its partial aggregates (the one read) as a job and
    # the merge of their C-free shuffle output as another.
    assert jobs == 2
    assert both == 2.0  # the thresholds and the ECE after: one more read
    assert thresholds.ece == pytest.approx(
        _ece(_calibrated(probs, fit.temperature), labels), abs=1e-9
    )
    alone = fit_temperature(df, label_col="label")
    assert alone.scans == 2 and alone.ece_after == pytest.approx(thresholds.ece, abs=1e-9)
