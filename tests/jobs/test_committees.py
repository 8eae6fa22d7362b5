"""A committee's members through the job: the mean computed or checked, its bad inputs refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pyspark.sql import SparkSession

from jobs.active_sample_selection import main
from tests.helpers import read_metadata, read_selected, write_csv_parts
from tests.references import bald

MEMBERS, CLASSES, N = 3, 3, 30


def _rows(with_mean: bool, seed: int = 2) -> tuple[list[dict[str, Any]], np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(CLASSES, 0.5), size=(N, MEMBERS))
    rows = []
    for i in range(N):
        row: dict[str, Any] = {"id": i}
        for m in range(MEMBERS):
            for c in range(CLASSES):
                row[f"prob_member_{m}_class_{c}"] = float(p[i, m, c])
        if with_mean:
            for c in range(CLASSES):
                row[f"prob_class_{c}"] = float(p[i, :, c].mean())
        rows.append(row)
    return rows, p


def _run(
    spark: SparkSession, tmp_path: Path, rows: list[dict[str, Any]], env: dict[str, str]
) -> int:
    source = write_csv_parts(tmp_path / "in", rows, parts=2)
    argv = ["--input", str(source), "--output", str(tmp_path / "out")]
    return main([*argv, "--metadata-output", str(tmp_path / "meta")], env, spark)


def test_bald_with_the_mean_computed(spark: SparkSession, tmp_path: Path) -> None:
    rows, p = _rows(with_mean=False)
    env = {"SELECTION_STRATEGY": "uncertainty", "UNCERTAINTY_MODE": "bald", "BATCH_SIZE": "5"}
    assert _run(spark, tmp_path, rows, env) == 0
    expected = [int(i) for i in np.argsort(-bald(p), kind="stable")[:5]]
    selected = read_selected(spark, tmp_path / "out")
    assert [int(r["id"]) for r in selected] == expected
    assert "prob_class_0" not in selected[0]  # the input's columns, nothing added but provenance
    document = read_metadata(tmp_path / "meta")
    assert document["parameters"]["uncertainty_mode"] == "bald"
    assert sum(document["per_class_selected"].values()) == 5


def test_given_probabilities_off_the_members_mean_fail(
    spark: SparkSession, tmp_path: Path, capsys: Any
) -> None:
    rows, _ = _rows(with_mean=True)
    given = [rows[4][f"prob_class_{c}"] for c in range(CLASSES)]
    high, low = int(np.argmax(given)), int(np.argmin(given))
    rows[4][f"prob_class_{high}"] -= 0.01  # the row still sums to 1 and stays in [0, 1]
    rows[4][f"prob_class_{low}"] += 0.01
    env = {"SELECTION_STRATEGY": "uncertainty", "UNCERTAINTY_MODE": "bald"}
    assert _run(spark, tmp_path, rows, env) == 3
    err = capsys.readouterr().err
    assert "1 row(s) break the committee contract (prob_member_<m>_class_<c>)" in err
    assert "e.g. id '4'" in err


def test_one_member_is_refused(spark: SparkSession, tmp_path: Path, capsys: Any) -> None:
    rows, _ = _rows(with_mean=True)
    for row in rows:
        for m in (1, 2):
            for c in range(CLASSES):
                del row[f"prob_member_{m}_class_{c}"]
    env = {"SELECTION_STRATEGY": "uncertainty", "UNCERTAINTY_MODE": "vote_entropy"}
    assert _run(spark, tmp_path, rows, env) == 3
    assert "a committee needs at least two members" in capsys.readouterr().err


def test_diversity_refuses_a_committee_mode(
    spark: SparkSession, tmp_path: Path, capsys: Any
) -> None:
    rows, _ = _rows(with_mean=True)
    env = {"SELECTION_STRATEGY": "diversity", "UNCERTAINTY_MODE": "bald"}
    assert _run(spark, tmp_path, rows, env) == 2
    assert "diversity does not read" in capsys.readouterr().err
