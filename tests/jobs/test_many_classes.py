"""Every strategy at C = 2 and 1000 classes, the score-expression strategies at 10 and 100 too,
through the job (read, checks, select). C = 3 to 10 is what the other tests use throughout.

With 1,000 classes the score and check expressions used to be a thousand levels deep and the job
died in the JVM (StackOverflowError) before reading a row. Row counts are small: what is tested
is the shape of the expressions, and that the rows chosen are the right ones.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession

from jobs.active_sample_selection import main
from tests.helpers import read_metadata, read_selected
from tests.references import random_reference, round_robin

ROWS = 40
FEATURES = 3
CLASSES = (2, 10, 100, 1000)


def _probabilities(classes: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # Peaked rows (a clear winner) and flat ones, so every strategy has something to choose.
    alpha = np.where(np.arange(ROWS)[:, None] % 2 == 0, 0.05, 5.0)
    p = np.vstack([rng.dirichlet(np.full(classes, a)) for a in alpha[:, 0]])
    return p / p.sum(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[int, tuple[Path, Any]]]:
    """One Parquet file per C: id, f0..f2 and prob_class_0..prob_class_{C-1}."""
    root = tmp_path_factory.mktemp("classes")
    made: dict[int, tuple[Path, Any]] = {}
    for classes in CLASSES:
        p = _probabilities(classes, seed=classes)
        x = np.random.default_rng(classes + 1).normal(size=(ROWS, FEATURES))
        columns: dict[str, Any] = {"id": np.arange(ROWS, dtype=np.int64)}
        columns.update({f"f{j}": x[:, j] for j in range(FEATURES)})
        columns.update({f"prob_class_{c}": p[:, c] for c in range(classes)})
        directory = root / f"c{classes}"
        directory.mkdir()
        pq.write_table(pa.table(columns), directory / "part-0.parquet")
        made[classes] = (directory, p)
    yield made


def _margin(p: np.ndarray) -> np.ndarray:
    top = np.sort(p, axis=1)[:, ::-1]
    return 1 - (top[:, 0] - top[:, 1])


def _entropy(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.where(p > 0, p * np.log(p), 0.0).sum(axis=1)


def _top(score: np.ndarray, n: int) -> list[int]:
    # Highest score first, ties by ascending id, like the job; rounding noise counts as a tie.
    return sorted(range(len(score)), key=lambda i: (-round(float(score[i]), 12), i))[:n]


def _expected(strategy: str, p: np.ndarray) -> list[int] | None:
    if strategy == "margin":
        return _top(_margin(p), 5)
    if strategy == "entropy":
        return _top(_entropy(p), 5)
    if strategy == "least_confidence":
        return _top(1 - p.max(axis=1), 5)
    if strategy == "confidence_threshold":
        confident = [i for i in range(len(p)) if p[i].max() >= 0.6]
        return sorted(confident, key=lambda i: (-p[i].max(), i))
    if strategy == "top_k_per_class":
        label = p.argmax(axis=1)
        kept = [
            i
            for c in set(label.tolist())
            for i in sorted(np.flatnonzero(label == c), key=lambda i: (-p[i].max(), i))[:2]
        ]
        return sorted(kept, key=lambda i: (-p[i].max(), i))
    if strategy == "random":
        return random_reference(list(range(len(p))), 5, 42)
    if strategy == "margin-class_balance":
        score = _margin(p)
        rows = [(i, int(p[i].argmax()), -round(float(score[i]), 12)) for i in range(len(p))]
        picked = round_robin(
            rows, 5, klass=lambda r: r[1], key=lambda r: (r[2], r[0]), ident=lambda r: r[0]
        )
        return [int(str(i)) for i in picked]
    return None  # diversity, badge, cluster_margin: checked by their own invariants


ENV = {
    "margin": {"SELECTION_STRATEGY": "uncertainty", "BATCH_SIZE": "5"},
    "entropy": {
        "SELECTION_STRATEGY": "uncertainty",
        "BATCH_SIZE": "5",
        "UNCERTAINTY_MODE": "entropy",
    },
    "least_confidence": {
        "SELECTION_STRATEGY": "uncertainty",
        "BATCH_SIZE": "5",
        "UNCERTAINTY_MODE": "least_confidence",
    },
    "confidence_threshold": {
        "SELECTION_STRATEGY": "confidence_threshold",
        "CONFIDENCE_THRESHOLD": "0.6",
    },
    "top_k_per_class": {"SELECTION_STRATEGY": "top_k_per_class", "K_PER_CLASS": "2"},
    "diversity": {"SELECTION_STRATEGY": "diversity", "BATCH_SIZE": "6"},
    "badge": {"SELECTION_STRATEGY": "badge", "BATCH_SIZE": "6", "KMEANS_ROUNDS": "2"},
    "random": {"SELECTION_STRATEGY": "random", "BATCH_SIZE": "5"},
    "margin-class_balance": {
        "SELECTION_STRATEGY": "uncertainty",
        "BATCH_SIZE": "5",
        "CLASS_BALANCE": "true",
    },
    "cluster_margin": {"SELECTION_STRATEGY": "cluster_margin", "BATCH_SIZE": "6", "CLUSTERS": "2"},
}


# Every strategy at the two ends; between them the strategies whose class expressions differ
# (a top-two margin, an entropy sum, a per-class rank), so the grid does not run 40 jobs.
GRID = [(s, c) for s in ENV for c in (2, 1000)] + [
    (s, c) for s in ("margin", "entropy", "top_k_per_class") for c in (10, 100)
]


@pytest.mark.parametrize(("strategy", "classes"), GRID)
def test_every_strategy_runs_at_any_number_of_classes(
    spark: SparkSession,
    tmp_path: Path,
    inputs: dict[int, tuple[Path, Any]],
    strategy: str,
    classes: int,
) -> None:
    source, p = inputs[classes]
    out, meta = tmp_path / "out", tmp_path / "meta"
    argv = ["--input", str(source), "--output", str(out), "--metadata-output", str(meta)]
    assert main(argv, ENV[strategy], spark) == 0
    selected = read_selected(spark, out)
    ids = [int(r["id"]) for r in selected]
    doc = read_metadata(meta)
    assert doc["input_rows"] == ROWS
    assert len(doc["per_class_selected"]) == classes
    expected = _expected(strategy, p)
    if expected is not None:
        assert ids == expected
    else:
        assert len(ids) == 6 == len(set(ids))
        if strategy == "cluster_margin":
            assert doc["strategy_figures"]["candidates"] == 40  # 10 x 6, of the 40 rows
        else:
            assert doc["strategy_figures"]["feature_columns"] == ["f0", "f1", "f2"]
    if strategy in ("margin", "entropy", "least_confidence"):
        score = {"margin": _margin, "entropy": _entropy}.get(strategy, lambda q: 1 - q.max(axis=1))
        want = score(p)
        for row in selected:
            assert math.isclose(float(row["uncertainty_score"]), want[int(row["id"])], abs_tol=1e-9)
    if strategy in ("confidence_threshold", "top_k_per_class"):
        for row in selected:
            i = int(row["id"])
            assert int(row["pseudo_label"]) == int(p[i].argmax())
            assert math.isclose(float(row["confidence"]), p[i].max(), abs_tol=1e-12)


def test_a_thousand_classes_with_normalised_csv_scores(spark: SparkSession, tmp_path: Path) -> None:
    """CSV text scores, NORMALIZE_SCORES and the failure path of the checks, at C = 1000."""
    classes = 1000
    rng = np.random.default_rng(3)
    raw = rng.uniform(0.0, 1.0, size=(12, classes))
    source = tmp_path / "in"
    source.mkdir()
    header = ["id"] + [f"prob_class_{c}" for c in range(classes)]
    lines = [",".join(header)] + [
        ",".join([f"r{i}", *(repr(float(v)) for v in raw[i])]) for i in range(len(raw))
    ]
    (source / "part-0.csv").write_text("\n".join(lines) + "\n")
    env = {"SELECTION_STRATEGY": "uncertainty", "BATCH_SIZE": "3", "NORMALIZE_SCORES": "true"}
    argv = ["--input", str(source), "--output", str(tmp_path / "o"), "--metadata-output"]
    assert main([*argv, str(tmp_path / "m")], env, spark) == 0
    p = raw / raw.sum(axis=1, keepdims=True)
    got = [r["id"] for r in read_selected(spark, tmp_path / "o")]
    assert got == [f"r{i}" for i in _top(_margin(p), 3)]

    # Without NORMALIZE_SCORES the sums are far from 1: the exact counts run at C = 1000 too.
    env.pop("NORMALIZE_SCORES")
    code = main([*argv, str(tmp_path / "m2"), "--output", str(tmp_path / "o2")], env, spark)
    assert code == 3
