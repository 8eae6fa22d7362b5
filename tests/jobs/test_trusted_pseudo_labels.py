"""Accuracy-targeted thresholds, class balance and calibration, through main()."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pyspark.sql import SparkSession
from scipy.stats import binomtest

from jobs.active_sample_selection import main
from tests.helpers import prediction_rows, read_metadata, read_selected, write_csv_parts

CLASSES = 3
PROBS = [f"prob_class_{c}" for c in range(CLASSES)]
POOL = prediction_rows(300, classes=CLASSES, seed=1)
VALIDATION = [{**r, "id": 1000 + r["id"]} for r in prediction_rows(900, classes=CLASSES, seed=2)]
AUTO = {
    "SELECTION_STRATEGY": "confidence_threshold",
    "CONFIDENCE_THRESHOLD": "auto",
    "TARGET_ACCURACY": "0.75",
    "LABEL_FIELD": "label",
}


def _run(
    spark: SparkSession, tmp_path: Path, source: Path, env: dict[str, str], *extra: str
) -> tuple[int, Path, Path]:
    out, meta = tmp_path / "out", tmp_path / "meta"
    argv = ["--input", str(source), "--output", str(out), "--metadata-output", str(meta), *extra]
    return main(argv, env, spark), out, meta


def _conf(row: dict[str, Any]) -> float:
    return max(float(row[p]) for p in PROBS)


def _pred(row: dict[str, Any]) -> int:
    return max(range(CLASSES), key=lambda c: (float(row[PROBS[c]]), -c))


def _reference_thresholds(rows: list[dict[str, Any]], target: float) -> list[float | None]:
    """Per class, the lowest confidence whose rows at or above it certify `target`, by scipy."""
    out: list[float | None] = []
    for c in range(CLASSES):
        mine = [r for r in rows if _pred(r) == c]
        best: float | None = None
        for t in sorted({_conf(r) for r in mine}):
            above = [r for r in mine if _conf(r) >= t]
            k = sum(int(r["label"]) == c for r in above)
            ci = binomtest(k, len(above)).proportion_ci(confidence_level=0.9, method="wilson")
            if ci.low >= target:
                best = t
                break
        out.append(best)
    return out


def test_auto_thresholds_from_validation_data(spark: SparkSession, tmp_path: Path) -> None:
    source = write_csv_parts(tmp_path / "in", POOL, parts=2)
    validation = write_csv_parts(tmp_path / "val", VALIDATION, parts=2)
    code, out, meta = _run(spark, tmp_path, source, AUTO, "--validation-data", str(validation))
    assert code == 0
    thresholds = _reference_thresholds(VALIDATION, 0.75)
    assert any(t is not None for t in thresholds)
    kept = [r for r in POOL if (t := thresholds[_pred(r)]) is not None and _conf(r) >= t]
    expected = sorted(kept, key=lambda r: (-_conf(r), r["id"]))
    assert [int(r["id"]) for r in read_selected(spark, out)] == [r["id"] for r in expected]
    doc = read_metadata(meta)
    fit = doc["class_thresholds"]
    assert [c["threshold"] for c in fit["classes"]] == thresholds
    assert fit["validation_rows"] == len(VALIDATION)
    for c, entry in enumerate(fit["classes"]):
        in_class = [r for r in kept if _pred(r) == c]
        assert entry["selected"] == len(in_class)
        assert entry["pool_rows_above"] == (len(in_class) if thresholds[c] is not None else None)
    assert doc["parameters"]["confidence_threshold"] == "auto"
    assert doc["parameters"]["target_accuracy"] == 0.75
    assert doc["inputs"]["validation_data"] == str(validation)
    # The pool's labels still measure the pseudo-labels (they are not the validation set here).
    agree = sum(int(r["label"]) == _pred(r) for r in kept) / len(kept)
    assert doc["validation"]["pseudo_label_accuracy"] == pytest.approx(agree)


def test_max_per_class_with_auto_thresholds(spark: SparkSession, tmp_path: Path) -> None:
    source = write_csv_parts(tmp_path / "in", POOL, parts=2)
    validation = write_csv_parts(tmp_path / "val", VALIDATION, parts=2)
    env = {**AUTO, "MAX_PER_CLASS": "5"}
    code, out, meta = _run(spark, tmp_path, source, env, "--validation-data", str(validation))
    assert code == 0
    thresholds = _reference_thresholds(VALIDATION, 0.75)
    expected = []
    for c in range(CLASSES):
        t = thresholds[c]
        mine = [r for r in POOL if _pred(r) == c and t is not None and _conf(r) >= t]
        expected += sorted(mine, key=lambda r: (-_conf(r), r["id"]))[:5]
    expected.sort(key=lambda r: (-_conf(r), r["id"]))
    assert [int(r["id"]) for r in read_selected(spark, out)] == [r["id"] for r in expected]
    fit = read_metadata(meta)["class_thresholds"]
    assert all(c["selected"] <= 5 for c in fit["classes"])
    assert any(
        c["pool_rows_above"] is not None and c["pool_rows_above"] > c["selected"]
        for c in fit["classes"]
    )


def test_labelled_input_rows_are_the_validation_set(spark: SparkSession, tmp_path: Path) -> None:
    # Every third pool row has no label: those are the pool, the rest validate.
    rows = [{**r, "label": "" if r["id"] % 3 == 0 else r["label"]} for r in POOL + VALIDATION]
    source = write_csv_parts(tmp_path / "in", rows, parts=2)
    code, out, meta = _run(spark, tmp_path, source, AUTO)
    assert code == 0
    labelled = [r for r in rows if r["label"] != ""]
    thresholds = _reference_thresholds(labelled, 0.75)
    pool = [r for r in rows if r["label"] == ""]
    kept = [r for r in pool if (t := thresholds[_pred(r)]) is not None and _conf(r) >= t]
    selected = read_selected(spark, out)
    assert sorted(int(r["id"]) for r in selected) == sorted(r["id"] for r in kept)
    doc = read_metadata(meta)
    assert doc["class_thresholds"]["validation_rows"] == len(labelled)
    assert doc["inputs"]["validation_data"] == "input rows with a label"
    assert doc["validation"] is None  # the selected rows have no label to measure against


def test_calibration_scales_the_uncertainty_scores(spark: SparkSession, tmp_path: Path) -> None:
    source = write_csv_parts(tmp_path / "in", POOL, parts=2)
    validation = write_csv_parts(tmp_path / "val", VALIDATION, parts=2)
    env = {
        "SELECTION_STRATEGY": "uncertainty",
        "UNCERTAINTY_MODE": "least_confidence",
        "BATCH_SIZE": "10",
        "CALIBRATION": "temperature",
        "LABEL_FIELD": "label",
    }
    code, out, meta = _run(spark, tmp_path, source, env, "--validation-data", str(validation))
    assert code == 0
    calibration = read_metadata(meta)["calibration"]
    t = calibration["temperature"]
    assert t > 0 and t != 1.0
    assert calibration["nll_after"] <= calibration["nll_before"]
    for row in read_selected(spark, out):
        p = np.array([float(row[c]) for c in PROBS]) ** (1.0 / t)
        assert float(row["uncertainty_score"]) == pytest.approx(1 - p.max() / p.sum(), rel=1e-9)


@pytest.mark.parametrize(
    ("env", "validation_rows", "code", "message"),
    [
        (
            {**AUTO, "LABEL_FIELD": ""},
            None,
            2,
            "CONFIDENCE_THRESHOLD=auto needs LABEL_FIELD",
        ),
        (
            {**AUTO, "CONFIDENCE_THRESHOLD": "0.9"},
            None,
            2,
            "TARGET_ACCURACY=0.75 needs CONFIDENCE_THRESHOLD=auto",
        ),
        (
            AUTO,
            [{k: v for k, v in r.items() if k != "label"} for r in VALIDATION],
            3,
            r"has no label column 'label' \(LABEL_FIELD\)",
        ),
        (
            AUTO,
            [{**r, "label": 3} if r["id"] == 1005 else r for r in VALIDATION],
            3,
            r"1 row\(s\) of validation data .* have a label in 'label' that is not a class index "
            r"0\.\.2, e\.g\. '3' \(id '1005'\)",
        ),
        (
            AUTO,
            [{k: v for k, v in r.items() if k != "prob_class_2"} for r in VALIDATION],
            3,
            "has 2 score columns, the input 3",
        ),
        (
            AUTO,
            [{k: v for k, v in r.items() if k != "id"} for r in VALIDATION],
            3,
            "has no id column 'id' \\(ID_FIELD\\)",
        ),
    ],
)
def test_validation_errors_are_one_line(
    spark: SparkSession,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    validation_rows: list[dict[str, Any]] | None,
    code: int,
    message: str,
) -> None:
    source = write_csv_parts(tmp_path / "in", POOL, parts=1)
    extra: list[str] = []
    if validation_rows is not None:
        extra = ["--validation-data", str(write_csv_parts(tmp_path / "v", validation_rows, 1))]
    got, _, _ = _run(spark, tmp_path, source, env, *extra)
    assert got == code
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: ")
    assert re.search(message, err), err
