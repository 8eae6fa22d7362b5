from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from selection.job.config import job_params_from_env
from selection.job.metadata import build_metadata, observe_summary, summarize
from selection.strategies.pseudo_labels import top_k_per_class

ROWS = [(1, 0.9, 0.1, 0), (2, 0.8, 0.2, 1), (3, 0.3, 0.7, 1)]


def test_summary_counts_classes_scores_and_label_agreement(spark: SparkSession) -> None:
    df = spark.createDataFrame(ROWS, "id long, prob_class_0 double, prob_class_1 double, y long")
    params = job_params_from_env(
        {"SELECTION_STRATEGY": "top_k_per_class", "K_PER_CLASS": "2", "LABEL_FIELD": "y"}
    )
    rows = df.transform(top_k_per_class(k=2))
    summary = summarize(rows, params, num_classes=3)
    assert summary.selected_rows == 3
    assert summary.per_class == {"0": 2, "1": 1, "2": 0}
    assert summary.score == {
        "name": "confidence",
        "min": 0.7,
        "mean": pytest.approx(0.8),
        "max": 0.9,
    }
    assert summary.label_figures["pseudo_label_accuracy"] == 2 / 3
    assert summary.warnings == [
        "K_PER_CLASS=2 but some predicted classes have fewer rows (class 1: 1, class 2: 0); "
        "selected what exists"
    ]


@pytest.mark.parametrize("num_classes", [3, 40])
def test_the_summary_observed_while_writing_is_the_summary(
    spark: SparkSession, tmp_path: Path, num_classes: int
) -> None:
    df = spark.createDataFrame(ROWS, "id long, prob_class_0 double, prob_class_1 double, y long")
    params = job_params_from_env(
        {"SELECTION_STRATEGY": "top_k_per_class", "K_PER_CLASS": "2", "LABEL_FIELD": "y"}
    )
    rows = df.transform(top_k_per_class(k=2))
    observed, read = observe_summary(rows, params, num_classes)
    observed.write.parquet(str(tmp_path / "rows"))
    assert read() == summarize(rows, params, num_classes)


def test_zero_rows_is_a_warning(spark: SparkSession) -> None:
    df = spark.createDataFrame(ROWS, "id long, prob_class_0 double, prob_class_1 double, y long")
    params = job_params_from_env({"SELECTION_STRATEGY": "uncertainty"})
    summary = summarize(
        df.limit(0).withColumn("uncertainty_score", df.prob_class_0),
        params,
        num_classes=2,
    )
    assert summary.selected_rows == 0
    assert summary.warnings == ["zero rows selected"]
    doc = build_metadata(
        job=params,
        job_type="active_learning_selection",
        input_rows=3,
        summary=summary,
        figures={},
        started=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        duration_seconds=1.23456,
        spark_version="3.5.6",
        inputs={"evaluation_data": "x"},
        warnings=summary.warnings,
    )
    assert doc["timestamp"] == "2026-01-02T03:04:05+00:00"
    assert doc["duration_seconds"] == 1.235
    assert doc["selection_score"]["min"] is None
    json.dumps(doc, allow_nan=False)


def test_zero_pseudo_labels_with_a_label_field_have_no_accuracy(spark: SparkSession) -> None:
    # Nothing selected while LABEL_FIELD is set: no accuracy to report, not a division by zero.
    df = spark.createDataFrame(ROWS, "id long, prob_class_0 double, prob_class_1 double, y long")
    params = job_params_from_env(
        {"SELECTION_STRATEGY": "top_k_per_class", "K_PER_CLASS": "2", "LABEL_FIELD": "y"}
    )
    summary = summarize(df.limit(0).transform(top_k_per_class(k=2)), params, num_classes=2)
    assert summary.selected_rows == 0
    assert summary.label_figures["pseudo_label_accuracy"] is None
