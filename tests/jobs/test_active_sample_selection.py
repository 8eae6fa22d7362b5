"""The job end to end, in-process through main() on the shared session."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from jobs.active_sample_selection import FAILURE_EXIT_CODE, build_parser, classify_failure, main
from selection.job.config import ENV_VARS
from tests.helpers import (
    output_is_absent,
    prediction_rows,
    read_metadata,
    read_selected,
    write_csv_parts,
    write_parquet_parts,
)

ROWS = prediction_rows(300, classes=3, seed=1)
PROBS = [f"prob_class_{c}" for c in range(3)]


def _run(
    spark: SparkSession, tmp_path: Path, source: Path, env: dict[str, str], *extra: str
) -> tuple[int, Path, Path]:
    out, meta = tmp_path / "out", tmp_path / "meta"
    argv = ["--input", str(source), "--output", str(out), "--metadata-output", str(meta), *extra]
    return main(argv, env, spark), out, meta


def _confidence(row: dict[str, Any]) -> float:
    return max(float(row[p]) for p in PROBS)


def _margin(row: dict[str, Any]) -> float:
    top = sorted((float(row[p]) for p in PROBS), reverse=True)
    return 1 - (top[0] - top[1])


def test_confidence_threshold_on_csv_parts(spark: SparkSession, tmp_path: Path) -> None:
    source = write_csv_parts(tmp_path / "in", ROWS, parts=3)
    env = {
        "SELECTION_STRATEGY": "confidence_threshold",
        "CONFIDENCE_THRESHOLD": "0.8",
        "LABEL_FIELD": "label",
    }
    code, out, meta = _run(spark, tmp_path, source, env)
    assert code == 0
    expected = sorted(
        (r for r in ROWS if _confidence(r) >= 0.8), key=lambda r: (-_confidence(r), r["id"])
    )
    selected = read_selected(spark, out)
    assert [int(r["id"]) for r in selected] == [r["id"] for r in expected]
    assert [int(r["selection_rank"]) for r in selected] == list(range(1, len(expected) + 1))
    first = selected[0]
    assert list(first)[: len(ROWS[0])] == list(ROWS[0])  # input columns first, in order
    assert float(first["prob_class_0"]) == expected[0]["prob_class_0"]
    assert first["data_source"] == "pseudo_labeled"
    assert int(first["pseudo_label"]) == max(range(3), key=lambda c: expected[0][PROBS[c]])

    doc = read_metadata(meta)
    assert doc["strategy"] == "confidence_threshold"
    assert doc["job_type"] == "ssl_selection"
    assert doc["input_rows"] == len(ROWS)
    assert doc["selected_rows"] == len(expected)
    assert sum(doc["per_class_selected"].values()) == len(expected)
    assert doc["parameters"]["confidence_threshold"] == 0.8
    assert doc["selection_score"]["min"] == pytest.approx(_confidence(expected[-1]))
    assert doc["selection_score"]["max"] == pytest.approx(_confidence(expected[0]))
    agree = sum(int(r["label"]) == int(r["pseudo_label"]) for r in selected) / len(selected)
    assert doc["validation"]["pseudo_label_accuracy"] == pytest.approx(agree)
    assert dt.datetime.fromisoformat(doc["timestamp"]).utcoffset() == dt.timedelta(0)
    assert doc["duration_seconds"] > 0
    assert doc["spark_version"].startswith("3.5")
    assert doc["warnings"] == []
    assert (out / "_SUCCESS").exists() and (meta / "_SUCCESS").exists()


def test_uncertainty_on_parquet_writes_parquet(spark: SparkSession, tmp_path: Path) -> None:
    source = write_parquet_parts(spark, tmp_path / "in", ROWS, parts=4)
    env = {
        "SELECTION_STRATEGY": "uncertainty",
        "BATCH_SIZE": "25",
        "OUTPUT_FORMAT": "parquet",
        "LABEL_FIELD": "label",
        "USE_CASE": "active_learning",
    }
    code, out, meta = _run(spark, tmp_path, source, env, "--job-type", "active_learning_selection")
    assert code == 0
    expected = sorted(ROWS, key=lambda r: (-_margin(r), r["id"]))[:25]
    selected = read_selected(spark, out, "parquet")
    assert [r["id"] for r in selected] == [r["id"] for r in expected]
    assert selected[0]["uncertainty_score"] == pytest.approx(_margin(expected[0]))
    assert selected[0]["data_source"] == "active_learning"
    in_types = dict(spark.read.parquet(str(source)).dtypes)
    out_types = dict(spark.read.parquet(str(out)).dtypes)
    assert {k: out_types[k] for k in in_types} == in_types
    assert out_types["selection_rank"] == "bigint"
    doc = read_metadata(meta)
    assert doc["job_type"] == "active_learning_selection"
    assert doc["selected_rows"] == 25
    assert doc["selection_score"]["name"] == "uncertainty_score"
    wrong = sum(int(r["label"]) != max(range(3), key=lambda c: r[PROBS[c]]) for r in selected)
    assert doc["validation"]["share_misclassified"] == pytest.approx(wrong / 25)


def test_top_k_per_class_on_tsv_with_flags_over_env(spark: SparkSession, tmp_path: Path) -> None:
    source = write_csv_parts(tmp_path / "in", ROWS, parts=2, sep="\t")
    env = {"SELECTION_STRATEGY": "uncertainty", "K_PER_CLASS": "1"}
    code, out, meta = _run(
        spark,
        tmp_path,
        source,
        env,
        "--selection-strategy",
        "top_k_per_class",
        "--k-per-class",
        "4",
    )
    assert code == 0
    selected = read_selected(spark, out)
    assert len(selected) == 12
    for c in range(3):
        in_class = [r for r in ROWS if max(range(3), key=lambda k: r[PROBS[k]]) == c]
        best = sorted(in_class, key=lambda r: (-_confidence(r), r["id"]))[:4]
        got = [int(r["id"]) for r in selected if int(r["pseudo_label"]) == c]
        assert sorted(got) == sorted(r["id"] for r in best)
    assert read_metadata(meta)["parameters"]["k_per_class"] == 4


def test_labeled_ids_are_never_selected(spark: SparkSession, tmp_path: Path) -> None:
    source = write_csv_parts(tmp_path / "in", ROWS, parts=2)
    first = sorted(ROWS, key=lambda r: (-_margin(r), r["id"]))[:10]
    labeled = write_csv_parts(tmp_path / "labeled", first[:5], parts=1)
    env = {"SELECTION_STRATEGY": "uncertainty", "BATCH_SIZE": "5"}
    code, out, meta = _run(spark, tmp_path, source, env, "--labeled-data", str(labeled))
    assert code == 0
    assert [int(r["id"]) for r in read_selected(spark, out)] == [r["id"] for r in first[5:]]
    assert read_metadata(meta)["inputs"]["labeled_data"] == str(labeled)


def test_shortfall_is_a_warning_not_an_error(spark: SparkSession, tmp_path: Path) -> None:
    source = write_csv_parts(tmp_path / "in", ROWS[:7], parts=1)
    code, out, meta = _run(
        spark, tmp_path, source, {"SELECTION_STRATEGY": "uncertainty", "BATCH_SIZE": "50"}
    )
    assert code == 0
    assert len(read_selected(spark, out)) == 7
    assert any("BATCH_SIZE=50" in w for w in read_metadata(meta)["warnings"])


def test_existing_output_is_refused_without_overwrite(
    spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_csv_parts(tmp_path / "in", ROWS[:20], parts=1)
    env = {"SELECTION_STRATEGY": "uncertainty", "BATCH_SIZE": "3"}
    assert _run(spark, tmp_path, source, env)[0] == 0
    before = sorted(p.name for p in (tmp_path / "out").iterdir())
    code, out, _ = _run(spark, tmp_path, source, {**env, "BATCH_SIZE": "4"})
    assert code == 4
    assert "already holds files; pass --overwrite" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == before
    code, out, _ = _run(spark, tmp_path, source, {**env, "BATCH_SIZE": "4"}, "--overwrite")
    assert code == 0
    assert len(read_selected(spark, out)) == 4


def test_each_phase_logs_one_line(
    spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_csv_parts(tmp_path / "in", ROWS[:20], parts=1)
    code, _, _ = _run(spark, tmp_path, source, {"SELECTION_STRATEGY": "uncertainty"})
    assert code == 0
    err = capsys.readouterr().err
    for phase in ("read", "check", "select", "verify", "write", "done"):
        assert f"INFO {phase}" in err
    assert "input_rows=20" in err
    logging.getLogger("selection").handlers.clear()


def test_config_error_exits_2_without_output(
    spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_csv_parts(tmp_path / "in", ROWS[:20], parts=1)
    code, out, meta = _run(
        spark, tmp_path, source, {"SELECTION_STRATEGY": "uncertainty", "USE_CASE": "ssl"}
    )
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: Strategy 'uncertainty' is NOT valid for SSL")
    assert len(err.splitlines()) == 1
    assert output_is_absent(out, meta)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"SELECTION_STRATEGY": "diversity", "FEATURE_FIELDS": "f0,nope"},
            "error: feature column 'nope' (FEATURE_FIELDS) is not in the input",
        ),
        (
            {"SELECTION_STRATEGY": "uncertainty", "SCORE_FIELD_PREFIX": "p_"},
            "set SCORE_FIELD_PREFIX, or SCORE_FIELD for a single binary score",
        ),
    ],
)
def test_library_errors_name_the_variable_in_the_job(
    spark: SparkSession,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    expected: str,
) -> None:
    source = write_csv_parts(tmp_path / "in", ROWS[:20], parts=1)
    code, out, meta = _run(spark, tmp_path, source, env)
    assert code == 3
    err = capsys.readouterr().err.strip()
    assert expected in err and "=)" not in err and "ScoreSpec" not in err
    assert output_is_absent(out, meta)


def test_every_contract_variable_has_a_flag() -> None:
    flags = {a for action in build_parser()._actions for a in action.option_strings}
    assert {v.flag for v in ENV_VARS} <= flags
    assert {
        "--job_type",
        "--job-type",
        "--input",
        "--output",
        "--metadata-output",
        "--labeled-data",
        "--overwrite",
    } <= flags


def test_a_jvm_that_died_is_named_with_what_to_change() -> None:
    try:
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except ConnectionRefusedError as inner:
            raise RuntimeError("An error occurred while calling o123.collect") from inner
    except RuntimeError as exc:
        code, line = classify_failure(exc)
    assert code == FAILURE_EXIT_CODE
    assert "Spark JVM stopped" in line and "spark.driver.memory" in line
    assert classify_failure(ValueError("plain"))[1] == "plain"
