"""Atomic output: a run either commits a complete result (rows, metadata, _SUCCESS in both
paths) or leaves the output paths as it found them.

Failures are injected at every phase (read, validate, select, the duplicate check after the
select, writing the rows, writing the metadata, committing the metadata after the rows were
committed), on an empty output and on one that holds a previous result with --overwrite. A failed
run must leave no part file, no metadata and no _SUCCESS (not even hidden staging files) on an
empty output, and the previous result byte for byte on a full one.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.active_sample_selection import main
from selection.job import output as output_module
from selection.job import runner
from selection.names import METADATA_FILE
from selection.strategies.result import Selected
from tests.helpers import read_metadata, write_csv_parts
from tests.reliability import files_under, reliability_rows, selected_table

ROWS = reliability_rows(60, seed=3)
ENV = {"SELECTION_STRATEGY": "uncertainty", "BATCH_SIZE": "5"}


def _fail(message: str) -> Callable[..., Any]:
    def raise_(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(message)

    return raise_


def _inject(monkeypatch: pytest.MonkeyPatch, phase: str, out: Path, meta: Path) -> None:
    """Make the run fail in `phase`, the way a bug or a lost resource would."""
    if phase == "read":
        monkeypatch.setattr(runner, "read_predictions", _fail("injected read failure"))
    elif phase == "validate":
        monkeypatch.setattr(runner, "check_schema", _fail("injected validate failure"))
    elif phase == "select":
        real_select = runner.select

        def select_then_fail_in_a_task(df: DataFrame, params: Any, **kwargs: Any) -> Selected:
            rows = real_select(df, params, **kwargs).rows
            # raise_error runs inside the Spark tasks that compute the selection
            failing = rows.filter(F.raise_error(F.lit("injected task failure")).isNull())
            return Selected(rows=failing)

        monkeypatch.setattr(runner, "select", select_then_fail_in_a_task)
    elif phase == "duplicate-check":
        monkeypatch.setattr(runner, "duplicate_ids", _fail("injected validate failure"))
    elif phase == "write-rows":
        real_stage_rows = runner.stage_rows

        def stage_then_fail(
            df: DataFrame, target: Any, fmt: Any, *args: Any, **kwargs: Any
        ) -> None:
            real_stage_rows(df, target, fmt, *args, **kwargs)
            staged = [
                p for p in Path(target.staging).iterdir() if not p.name.startswith(("_", "."))
            ]
            assert staged, "the rows should be staged before the failure"
            raise RuntimeError("injected write failure")

        monkeypatch.setattr(runner, "stage_rows", stage_then_fail)
    elif phase == "write-metadata":
        monkeypatch.setattr(runner, "stage_json", _fail("injected write failure"))
    elif phase == "commit-metadata":
        real_commit = output_module.OutputTarget.commit

        def commit_rows_then_fail(target: Any) -> None:
            if Path(target.path) == meta:
                assert (out / "_SUCCESS").exists(), "the rows should be committed first"
                raise OSError("injected commit failure")
            real_commit(target)

        monkeypatch.setattr(output_module.OutputTarget, "commit", commit_rows_then_fail)
    else:
        raise AssertionError(phase)


PHASES = [
    "read",
    "validate",
    "select",
    "duplicate-check",
    "write-rows",
    "write-metadata",
    "commit-metadata",
]


@pytest.fixture(scope="module")
def previous_result(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A committed result (rows and metadata) of an earlier run with BATCH_SIZE=3."""
    root = tmp_path_factory.mktemp("previous")
    source = write_csv_parts(root / "in", ROWS, parts=2)
    argv = ["--input", str(source), "--output", str(root / "out"),
            "--metadata-output", str(root / "meta")]  # fmt: skip
    assert main(argv, {**ENV, "BATCH_SIZE": "3"}, spark) == 0
    return root


def _snapshot(*directories: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(d.parent)): p.read_bytes()
        for d in directories
        for p in sorted(d.rglob("*"))
        if p.is_file()
    }


def _paths(tmp_path: Path) -> tuple[Path, Path, Path]:
    return write_csv_parts(tmp_path / "in", ROWS, parts=2), tmp_path / "out", tmp_path / "meta"


def _argv(source: Path, out: Path, meta: Path, *extra: str) -> list[str]:
    return ["--input", str(source), "--output", str(out), "--metadata-output", str(meta), *extra]


@pytest.mark.parametrize("phase", PHASES)
def test_a_failure_in_any_phase_leaves_nothing(
    spark: SparkSession,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    phase: str,
) -> None:
    source, out, meta = _paths(tmp_path)
    _inject(monkeypatch, phase, out, meta)
    code = main(_argv(source, out, meta), ENV, spark)
    err = capsys.readouterr().err
    assert code == 5
    assert "injected" in err.splitlines()[-1] and err.splitlines()[-1].startswith("error: ")
    assert files_under(out, meta) == [], f"{phase} failure left files behind"


@pytest.mark.parametrize("phase", PHASES)
def test_a_failure_with_overwrite_keeps_the_previous_result(
    spark: SparkSession,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    previous_result: Path,
    phase: str,
) -> None:
    source, out, meta = _paths(tmp_path)
    shutil.copytree(previous_result / "out", out)
    shutil.copytree(previous_result / "meta", meta)
    before = _snapshot(out, meta)
    assert any(name.endswith(METADATA_FILE) for name in before)
    _inject(monkeypatch, phase, out, meta)
    assert main(_argv(source, out, meta, "--overwrite"), ENV, spark) == 5
    assert _snapshot(out, meta) == before, f"{phase} failure changed the previous result"


def test_existing_output_is_never_deleted_without_overwrite(
    spark: SparkSession,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    previous_result: Path,
) -> None:
    source, out, meta = _paths(tmp_path)
    # a previous result in both paths
    shutil.copytree(previous_result / "out", out)
    shutil.copytree(previous_result / "meta", meta)
    before = _snapshot(out, meta)
    assert main(_argv(source, out, meta), ENV, spark) == 4
    assert "already holds files; pass --overwrite" in capsys.readouterr().err
    assert _snapshot(out, meta) == before

    # only the metadata path holds something (a user's file): refused before any row is written
    shutil.rmtree(out)
    shutil.rmtree(meta)
    meta.mkdir()
    (meta / "notes.txt").write_text("keep me")
    assert main(_argv(source, out, meta), ENV, spark) == 4
    assert (meta / "notes.txt").read_text() == "keep me"
    assert files_under(out) == []


def test_overwrite_replaces_the_previous_result(
    spark: SparkSession, tmp_path: Path, previous_result: Path
) -> None:
    source, out, meta = _paths(tmp_path)
    shutil.copytree(previous_result / "out", out)
    shutil.copytree(previous_result / "meta", meta)
    assert len(selected_table(out)) == 1 + 3

    assert main(_argv(source, out, meta, "--overwrite"), ENV, spark) == 0
    # One file under the same name as before: the old rows must not survive beside the new ones.
    assert [p.name for p in out.iterdir() if not p.name.startswith(("_", "."))] == [
        "selected_samples.csv"
    ]
    assert len(selected_table(out)) == 1 + 5
    assert read_metadata(meta)["parameters"]["batch_size"] == 5
    assert (out / "_SUCCESS").exists() and (meta / "_SUCCESS").exists()
    leftovers = [f for f in files_under(out, meta) if "_staging-" in f or "_previous-" in f]
    assert leftovers == []
