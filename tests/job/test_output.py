from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession

from jobs.active_sample_selection import main
from selection.errors import SelectionOutputError
from selection.job import output as output_module
from selection.job.output import (
    SINGLE_FILE_MAX_ROWS,
    OutputTarget,
    single_file,
    stage_json,
    stage_rows,
    staged,
)
from selection.names import METADATA_FILE, SELECTION_RANK, OutputFormat
from tests.helpers import prediction_rows, read_selected, write_csv_parts


def _names(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir())


def test_commit_moves_staged_files_into_place(spark: SparkSession, tmp_path: Path) -> None:
    target = OutputTarget(spark, str(tmp_path / "out"), overwrite=False)
    target.ensure_writable()
    stage_rows(spark.range(3).coalesce(1), target, OutputFormat.PARQUET)
    assert not [n for n in _names(tmp_path / "out") if not n.startswith("_staging-")]
    target.commit()
    names = _names(tmp_path / "out")
    assert "_SUCCESS" in names
    assert not any(n.startswith("_staging-") for n in names)
    assert spark.read.parquet(str(tmp_path / "out")).count() == 3


def test_failure_inside_staged_leaves_nothing(spark: SparkSession, tmp_path: Path) -> None:
    target = OutputTarget(spark, str(tmp_path / "meta"), overwrite=False)
    with pytest.raises(RuntimeError), staged(target):
        stage_json(target, {"a": 1})
        raise RuntimeError("boom")
    assert not (tmp_path / "meta").exists() or _names(tmp_path / "meta") == []


def test_existing_result_is_kept_unless_overwrite(spark: SparkSession, tmp_path: Path) -> None:
    first = OutputTarget(spark, str(tmp_path / "meta"), overwrite=False)
    stage_json(first, {"run": 1})
    first.commit()
    refused = OutputTarget(spark, str(tmp_path / "meta"), overwrite=False)
    with pytest.raises(SelectionOutputError, match="already holds files; pass --overwrite"):
        refused.ensure_writable()
    second = OutputTarget(spark, str(tmp_path / "meta"), overwrite=True)
    second.ensure_writable()
    stage_json(second, {"run": 2})
    assert '"run": 1' in (tmp_path / "meta" / METADATA_FILE).read_text()  # untouched until commit
    second.commit()
    assert '"run": 2' in (tmp_path / "meta" / METADATA_FILE).read_text()


def test_a_file_is_not_an_output_directory(spark: SparkSession, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(SelectionOutputError, match="is a file, not a directory"):
        OutputTarget(spark, str(tmp_path / "f"), overwrite=True).ensure_writable()


def test_stale_staging_from_a_killed_run_is_removed(spark: SparkSession, tmp_path: Path) -> None:
    stale = tmp_path / "out" / "_staging-deadbeef"
    stale.mkdir(parents=True)
    (stale / "part-0.csv").write_text("x")
    OutputTarget(spark, str(tmp_path / "out"), overwrite=False).clean_stale_staging()
    assert _names(tmp_path / "out") == []


def _visible(path: Path) -> list[str]:
    return [n for n in _names(path) if not n.startswith(("_", "."))]


def _ranked(spark: SparkSession, n: int, partitions: int = 3) -> DataFrame:
    # Rows spread over several partitions in an order unlike their rank.
    return spark.createDataFrame(
        [(f"id-{i:03d}", (i * 7) % n + 1, i / n) for i in range(n)],
        f"id string, {SELECTION_RANK} int, confidence double",
    ).repartition(partitions)


def test_small_selection_is_one_file_in_rank_order(spark: SparkSession, tmp_path: Path) -> None:
    target = OutputTarget(spark, str(tmp_path / "out"), overwrite=False)
    stage_rows(_ranked(spark, 20), target, OutputFormat.CSV, row_count=20)
    target.commit()
    assert _visible(tmp_path / "out") == ["selected_samples.csv"]
    assert (tmp_path / "out" / "_SUCCESS").exists()
    with open(tmp_path / "out" / "selected_samples.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r[SELECTION_RANK]) for r in rows] == list(range(1, 21))
    assert rows[0]["id"] == "id-000" and len({r["id"] for r in rows}) == 20


def test_small_parquet_selection_is_one_file(spark: SparkSession, tmp_path: Path) -> None:
    target = OutputTarget(spark, str(tmp_path / "out"), overwrite=False)
    stage_rows(_ranked(spark, 20), target, OutputFormat.PARQUET, row_count=20)
    target.commit()
    assert _visible(tmp_path / "out") == ["selected_samples.parquet"]
    table = spark.read.parquet(str(tmp_path / "out" / "selected_samples.parquet"))
    assert [r[SELECTION_RANK] for r in table.collect()] == list(range(1, 21))


def test_an_empty_selection_is_one_file_with_its_header(
    spark: SparkSession, tmp_path: Path
) -> None:
    target = OutputTarget(spark, str(tmp_path / "out"), overwrite=False)
    stage_rows(_ranked(spark, 20).limit(0), target, OutputFormat.CSV, row_count=0)
    target.commit()
    assert _visible(tmp_path / "out") == ["selected_samples.csv"]
    text = (tmp_path / "out" / "selected_samples.csv").read_text()
    assert text.splitlines() == [f"id,{SELECTION_RANK},confidence"]


@pytest.mark.parametrize("row_count", [None, 5])
def test_large_or_uncounted_selection_is_part_files(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, row_count: int | None
) -> None:
    monkeypatch.setattr(output_module, "SINGLE_FILE_MAX_ROWS", 4)
    target = OutputTarget(spark, str(tmp_path / "out"), overwrite=False)
    stage_rows(_ranked(spark, 5), target, OutputFormat.CSV, row_count=row_count)
    target.commit()
    parts = _visible(tmp_path / "out")
    assert len(parts) == 3 and all(n.startswith("part-") for n in parts)
    assert spark.read.option("header", True).csv(str(tmp_path / "out")).count() == 5


def test_threshold_is_inclusive() -> None:
    assert single_file(0) and single_file(SINGLE_FILE_MAX_ROWS)
    assert not single_file(SINGLE_FILE_MAX_ROWS + 1) and not single_file(None)


@pytest.mark.parametrize(("limit", "files"), [(None, ["selected_samples.csv"]), (4, "parts")])
def test_the_job_writes_one_file_up_to_the_threshold(
    spark: SparkSession,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    limit: int | None,
    files: Any,
) -> None:
    """The runner hands stage_rows the row count it already has; no extra count job."""
    if limit is not None:
        monkeypatch.setattr(output_module, "SINGLE_FILE_MAX_ROWS", limit)
    source = write_csv_parts(tmp_path / "in", prediction_rows(40, seed=4), parts=3)
    out, meta = tmp_path / "out", tmp_path / "meta"
    argv = ["--input", str(source), "--output", str(out), "--metadata-output", str(meta)]
    env = {"SELECTION_STRATEGY": "uncertainty", "BATCH_SIZE": "6"}
    assert main(argv, env, spark) == 0
    written = _visible(out)
    if files == "parts":
        # Spark's own layout (the top 6 come out of one task here, so one part file)
        assert written and all(n.startswith("part-") for n in written)
    else:
        assert written == files
    assert len(read_selected(spark, out)) == 6
    assert (out / "_SUCCESS").exists() and (meta / "_SUCCESS").exists()
