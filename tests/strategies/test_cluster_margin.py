"""cluster_margin: the round-robin against numpy given the clusters, and end to end on blobs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs.active_sample_selection import main
from selection import ClusterMargin, SelectionParamError, select
from selection.strategies.cluster_margin import balanced_round_robin, picks_per_cluster, round_robin
from tests.helpers import read_metadata, read_selected, write_csv_parts
from tests.references import cluster_class_round_robin, cluster_round_robin, margin, spark_id_key

CLUSTER = "_sel_cm_cluster"


@pytest.mark.parametrize("batch", [1, 3, 7, 10, 15, 40])
def test_round_robin_is_the_reference_given_the_clusters(spark: SparkSession, batch: int) -> None:
    rng = np.random.default_rng(1)
    clusters = [0] * 9 + [1] * 2 + [2] * 5 + [3] * 2 + [4] * 12
    within = rng.permutation(len(clusters)).tolist()
    rows = [(i, c, w) for i, (c, w) in enumerate(zip(clusters, within, strict=True))]
    df = spark.createDataFrame(rows, f"id long, {CLUSTER} int, w long").repartition(3)
    sizes = {c: clusters.count(c) for c in set(clusters)}
    ranked = round_robin(df, batch, sizes, [F.col("w").asc()]).collect()
    expected = cluster_round_robin(clusters, within, batch)
    assert [r["id"] for r in ranked] == expected
    assert [r["selection_rank"] for r in ranked] == list(range(1, len(expected) + 1))
    counted = {str(c): sum(1 for i in expected if clusters[i] == c) for c in sizes}
    assert picks_per_cluster(sizes, batch) == {c: n for c, n in counted.items() if n}


def _blobs(n_per: tuple[int, ...], seed: int = 3) -> tuple[list[dict[str, float]], np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [50.0, 0.0], [0.0, 50.0]])
    rows, labels = [], []
    i = 0
    for blob, count in enumerate(n_per):
        for _ in range(count):
            x = centres[blob] + rng.normal(scale=0.5, size=2)
            p = rng.dirichlet([1.0, 1.0, 1.0])
            rows.append(
                {"id": i, "f0": float(x[0]), "f1": float(x[1])}
                | {f"prob_class_{c}": float(p[c]) for c in range(3)}
            )
            labels.append(blob)
            i += 1
    return rows, np.array(labels)


def _reference(
    rows: list[dict[str, float]], labels: np.ndarray, batch: int, over: int, seed: int
) -> tuple[list[int], np.ndarray]:
    probs = np.array([[r[f"prob_class_{c}"] for c in range(3)] for r in rows])
    score = margin(probs)
    ids = [int(r["id"]) for r in rows]
    candidates = sorted(range(len(rows)), key=lambda i: (-score[i], ids[i]))[: over * batch]
    picked = cluster_round_robin(
        [int(labels[i]) for i in candidates],
        [(spark_id_key(ids[i], seed), k) for k, i in enumerate(candidates)],
        batch,
    )
    return [ids[candidates[j]] for j in picked], score


def test_blobs_end_to_end_against_the_reference(spark: SparkSession) -> None:
    rows, labels = _blobs((60, 25, 40))
    df = spark.createDataFrame(rows).repartition(4)
    params = ClusterMargin(batch_size=12, oversample=5, clusters=3, features=("f0", "f1"), seed=9)
    selected = select(df, params)
    got = [r["id"] for r in selected.rows.collect()]
    expected, _ = _reference(rows, labels, 12, 5, 9)
    assert got == expected
    figures = selected.summary.metadata()
    assert figures["candidates"] == 60 and figures["clusters"] == 3
    assert sum(figures["picks_per_cluster"].values()) == 12
    assert sorted(figures["candidate_cluster_sizes"].values()) == _candidate_sizes(rows, labels, 60)
    again = [r["id"] for r in select(df.coalesce(1), params).rows.collect()]
    assert again == got


def _candidate_sizes(rows: list[dict[str, float]], labels: np.ndarray, n: int) -> list[int]:
    probs = np.array([[r[f"prob_class_{c}"] for c in range(3)] for r in rows])
    score = margin(probs)
    order = sorted(range(len(rows)), key=lambda i: (-score[i], i))[:n]
    return sorted(np.bincount(labels[order], minlength=3).tolist())


def test_parameters_are_checked() -> None:
    with pytest.raises(SelectionParamError, match="oversample=0 must be >= 1"):
        ClusterMargin(oversample=0)
    with pytest.raises(SelectionParamError, match="clusters=-1 must be >= 0"):
        ClusterMargin(clusters=-1)


def test_job_reports_the_clusters(spark: SparkSession, tmp_path: Path) -> None:
    rows, labels = _blobs((30, 12, 20), seed=5)
    source = write_csv_parts(tmp_path / "in", rows, parts=2)
    env = {
        "SELECTION_STRATEGY": "cluster_margin",
        "BATCH_SIZE": "6",
        "MARGIN_OVERSAMPLE": "4",
        "CLUSTERS": "3",
        "FEATURE_FIELDS": "f0,f1",
        "RANDOM_SEED": "2",
    }
    out, meta = tmp_path / "out", tmp_path / "meta"
    argv = ["--input", str(source), "--output", str(out), "--metadata-output", str(meta)]
    assert main(argv, env, spark) == 0
    expected, _ = _reference(rows, labels, 6, 4, 2)
    assert [int(r["id"]) for r in read_selected(spark, out)] == expected
    document = read_metadata(meta)
    assert document["parameters"]["margin_oversample"] == 4
    assert document["strategy_figures"]["candidates"] == 24
    low, high = document["strategy_figures"]["candidate_score_range"]
    assert 0.0 <= low <= high <= 1.0


@pytest.mark.parametrize("batch", [1, 4, 9, 13, 22, 30])
def test_class_balanced_round_robin_is_the_reference_given_the_clusters(
    spark: SparkSession, batch: int
) -> None:
    rng = np.random.default_rng(7)
    clusters = [0] * 9 + [1] * 2 + [2] * 5 + [3] * 2 + [4] * 12
    # Class 2 is short (3 rows): its shortfall goes to the others.
    classes = rng.permutation([0] * 14 + [1] * 13 + [2] * 3).tolist()
    within = rng.permutation(len(clusters)).tolist()
    rows = [(i, c, k, w) for i, (c, k, w) in enumerate(zip(clusters, classes, within, strict=True))]
    df = spark.createDataFrame(rows, f"id long, {CLUSTER} int, k int, w long").repartition(3)
    sizes = {c: clusters.count(c) for c in set(clusters)}
    ranked, quotas = balanced_round_robin(df, batch, sizes, [F.col("w").asc()], F.col("k"))
    got = ranked.collect()
    expected = cluster_class_round_robin(clusters, classes, within, batch)
    assert [r["id"] for r in got] == expected
    assert [r["selection_rank"] for r in got] == list(range(1, len(expected) + 1))
    per_class = np.bincount([classes[i] for i in expected], minlength=3)
    assert per_class.sum() == min(batch, 30)
    assert quotas.pool == {0: 14, 1: 13, 2: 3}
    full = [k for k in range(3) if per_class[k] < quotas.pool[k]]
    assert max(per_class[full]) - min(per_class[full]) <= 1 if full else True


def test_class_balance_end_to_end_against_the_reference(spark: SparkSession) -> None:
    rows, labels = _blobs((60, 25, 40))
    df = spark.createDataFrame(rows).repartition(4)
    params = ClusterMargin(
        batch_size=12, oversample=5, clusters=3, features=("f0", "f1"), seed=9, class_balance=True
    )
    selected = select(df, params)
    got = [r["id"] for r in selected.rows.collect()]
    probs = np.array([[r[f"prob_class_{c}"] for c in range(3)] for r in rows])
    score = margin(probs)
    ids = [int(r["id"]) for r in rows]
    candidates = sorted(range(len(rows)), key=lambda i: (-score[i], ids[i]))[:60]
    picked = cluster_class_round_robin(
        [int(labels[i]) for i in candidates],
        [int(np.argmax(probs[i])) for i in candidates],
        [(spark_id_key(ids[i], 9), k) for k, i in enumerate(candidates)],
        12,
    )
    assert got == [ids[candidates[j]] for j in picked]
    assert got != _reference(rows, labels, 12, 5, 9)[0]  # balancing changed the batch
    figures = selected.summary.metadata()
    balance = figures["class_balance"]
    pool = np.bincount([int(np.argmax(probs[i])) for i in candidates], minlength=3)
    assert balance["pool_per_class"] == {str(c): int(n) for c, n in enumerate(pool) if n}
    by_cluster = np.bincount([int(labels[candidates[j]]) for j in picked], minlength=3)
    assert sorted(figures["picks_per_cluster"].values()) == sorted(int(n) for n in by_cluster if n)
    assert sum(figures["picks_per_cluster"].values()) == 12


def test_job_reads_class_balance_for_cluster_margin(spark: SparkSession, tmp_path: Path) -> None:
    rows, _ = _blobs((30, 12, 20), seed=5)
    source = write_csv_parts(tmp_path / "in", rows, parts=2)
    env = {
        "SELECTION_STRATEGY": "cluster_margin",
        "BATCH_SIZE": "6",
        "MARGIN_OVERSAMPLE": "4",
        "CLUSTERS": "3",
        "FEATURE_FIELDS": "f0,f1",
        "CLASS_BALANCE": "true",
    }
    out, meta = tmp_path / "out", tmp_path / "meta"
    argv = ["--input", str(source), "--output", str(out), "--metadata-output", str(meta)]
    assert main(argv, env, spark) == 0
    document = read_metadata(meta)
    assert document["parameters"]["class_balance"] is True
    assert sum(document["strategy_figures"]["class_balance"]["pool_per_class"].values()) == 24
    assert len(read_selected(spark, out)) == 6
