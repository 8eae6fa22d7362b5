from __future__ import annotations

import pytest
from pyspark.sql import DataFrame, SparkSession
from scipy.stats import binomtest

from selection import fit_class_thresholds
from selection.strategies.thresholds import wilson_lower_value, wilson_z

CLASSES = 5
TARGET = 0.8  # at level 0.95 an all-correct set needs 11 rows: 11 / (11 + z^2) = 0.8026


def _row(i: int, predicted: int, confidence: float, label: int) -> tuple[object, ...]:
    rest = (1.0 - confidence) / (CLASSES - 1)
    probs = [confidence if c == predicted else rest for c in range(CLASSES)]
    return (i, label, *probs)


def _validation(spark: SparkSession) -> DataFrame:
    rows = []
    # Class 0: 12 correct (0.99 .. 0.88), one wrong at 0.87, 30 correct below (0.86 .. 0.57):
    # the lowest qualifying threshold is the lowest confidence, past the wrong row.
    for j in range(12):
        rows.append(_row(len(rows), 0, 0.99 - 0.01 * j, 0))
    rows.append(_row(len(rows), 0, 0.87, 1))
    for j in range(30):
        rows.append(_row(len(rows), 0, 0.86 - 0.01 * j, 0))
    # Class 1: 11 correct at 0.97, then a tie at 0.9 of a correct row (lower id) and a wrong
    # one: 12/13 does not reach the target, and the tie is never split into 12/12.
    for _ in range(11):
        rows.append(_row(len(rows), 1, 0.97, 1))
    rows.append(_row(len(rows), 1, 0.9, 1))
    rows.append(_row(len(rows), 1, 0.9, 0))
    # Class 2: no validation row predicted as it. Class 3: all wrong. Class 4: all correct,
    # but 5 rows cannot certify 0.8.
    for j in range(5):
        rows.append(_row(len(rows), 3, 0.9 - 0.01 * j, 0))
    for j in range(5):
        rows.append(_row(len(rows), 4, 0.9 - 0.01 * j, 4))
    columns = ["id", "label", *[f"prob_class_{c}" for c in range(CLASSES)]]
    return spark.createDataFrame(rows, columns).repartition(3)


def _scipy_lower(k: int, n: int, level: float) -> float:
    # A one-sided bound at `level` is the lower end of the two-sided interval at 2 level - 1.
    return float(binomtest(k, n).proportion_ci(confidence_level=2 * level - 1, method="wilson").low)


@pytest.mark.parametrize(("k", "n"), [(11, 11), (12, 13), (0, 5), (42, 43), (1, 1), (70, 100)])
@pytest.mark.parametrize("level", [0.9, 0.95, 0.99])
def test_wilson_bound_matches_scipy(k: int, n: int, level: float) -> None:
    assert wilson_lower_value(k, n, wilson_z(level)) == pytest.approx(
        _scipy_lower(k, n, level), abs=1e-12
    )


def test_thresholds_on_a_hand_made_validation_set(spark: SparkSession) -> None:
    fit = fit_class_thresholds(
        _validation(spark), label_col="label", num_classes=CLASSES, target_accuracy=TARGET
    )
    assert fit.thresholds == [pytest.approx(0.57), 0.97, None, None, None]
    by_class = {c.label: c for c in fit.classes}
    assert (by_class[0].validation_rows, by_class[0].rows_above) == (43, 43)
    assert by_class[0].precision == pytest.approx(42 / 43)
    assert by_class[0].lower_bound == pytest.approx(_scipy_lower(42, 43, 0.95), abs=1e-12)
    assert (by_class[1].validation_rows, by_class[1].rows_above) == (13, 11)
    assert by_class[1].lower_bound == pytest.approx(_scipy_lower(11, 11, 0.95), abs=1e-12)
    assert by_class[2].validation_rows == 0
    assert by_class[2].reason == "no validation row is predicted as this class"
    assert by_class[3].lower_bound == pytest.approx(0.0, abs=1e-12)
    assert by_class[3].precision == 0.0
    # Class 4: the best bound is that of all 5 rows, all correct.
    assert by_class[4].rows_above == 5
    assert by_class[4].lower_bound == pytest.approx(_scipy_lower(5, 5, 0.95), abs=1e-12)
    assert [c.label for c in fit.left_out] == [2, 3, 4]
    assert fit.warnings[2].startswith("class 4 gets no pseudo-labels: the best lower bound")
    assert "below the target accuracy 0.8" in fit.warnings[2]


def test_a_lower_target_or_level_lowers_the_threshold(spark: SparkSession) -> None:
    validation = _validation(spark)
    # 12/13 has a bound of 0.718 at 0.95: it qualifies for 0.7, so class 1 drops to 0.9.
    loose = fit_class_thresholds(
        validation, label_col="label", num_classes=CLASSES, target_accuracy=0.7
    )
    assert loose.thresholds[1] == 0.9
    # At level 0.5 (z = 0) the bound is the precision itself: 5/5 certifies class 4.
    point = fit_class_thresholds(
        validation,
        label_col="label",
        num_classes=CLASSES,
        target_accuracy=TARGET,
        confidence_level=0.5,
    )
    assert point.thresholds[4] == pytest.approx(0.86)
    assert point.thresholds[3] is None


def test_fit_json_names_every_class(spark: SparkSession) -> None:
    fit = fit_class_thresholds(
        _validation(spark), label_col="label", num_classes=CLASSES, target_accuracy=TARGET
    )
    doc = fit.to_json()
    assert [c["class"] for c in doc["classes"]] == list(range(CLASSES))
    assert doc["classes_left_out"] == [2, 3, 4]
    assert doc["classes"][1]["threshold"] == 0.97
    assert doc["classes"][2]["left_out"] == "no validation row is predicted as this class"
