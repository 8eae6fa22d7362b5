from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from selection.errors import SelectionOutputError
from selection.job.output import OutputTarget, stage_json, stage_rows, staged
from selection.names import METADATA_FILE, OutputFormat


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
