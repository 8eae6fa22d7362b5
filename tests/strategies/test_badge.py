"""BADGE: factorised gradient distances, k-means|| seeding, and cost against k-means++."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from chispa import assert_approx_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType

from selection.engine.transfer import ROW_TRANSFER_CONF, arrow_usable
from selection.names import Metric
from selection.strategies import Badge, select
from selection.strategies.badge import BadgeSummary, badge, select_badge
from selection.strategies.badge_kernels import gradient_factors, sq_dists
from tests.helpers import numpy_frame


def _ids(df: DataFrame) -> list[Any]:
    return [r["id"] for r in df.orderBy("selection_rank").collect()]


SCHEMA = StructType(
    [
        StructField("id", LongType()),
        StructField("emb_0", DoubleType()),
        StructField("emb_1", DoubleType()),
        StructField("prob_class_0", DoubleType()),
        StructField("prob_class_1", DoubleType()),
    ]
)
ROWS = [
    (1, 1.0, 0.0, 0.9, 0.1),  # ||g||^2 = 2 * 0.01 * 1
    (2, 3.0, 4.0, 0.6, 0.4),  # 2 * 0.16 * 25 = 8, the largest
    (3, 0.0, 5.0, 0.4, 0.6),  # 8 as well: a tie, broken by the lower id
    (4, 1.0, 1.0, 0.5, 0.5),  # 2 * 0.25 * 2 = 1
    (5, 2.0, 0.0, 1.0, 0.0),  # 0: a confident prediction has no gradient
]


def test_first_pick_is_the_largest_norm_row(spark: SparkSession) -> None:
    df = spark.createDataFrame(ROWS, SCHEMA).repartition(2)
    got = df.transform(badge(1, features=["emb_0", "emb_1"], seed=3, rounds=1))
    expected_schema = StructType(
        [
            *SCHEMA.fields,
            StructField("uncertainty_score", DoubleType()),
            StructField("data_source", StringType(), nullable=False),
            StructField("selection_rank", LongType()),
        ]
    )
    expected = spark.createDataFrame(
        [(2, 3.0, 4.0, 0.6, 0.4, 0.8, "active_learning", 1)], expected_schema
    )
    assert_approx_df_equality(got, expected, 1e-12, ignore_nullable=True)


def test_every_row_once_when_the_batch_exceeds_the_input(spark: SparkSession) -> None:
    df = spark.createDataFrame(ROWS, SCHEMA)
    labeled = spark.createDataFrame([(2,)], "id long")
    features = ["emb_0", "emb_1"]
    got = select_badge(df, Badge(batch_size=10, features=features, rounds=2), labeled=labeled)
    ids = _ids(got.rows)
    assert ids[0] == 3  # the largest norm once 2 is labeled
    assert sorted(ids) == [1, 3, 4, 5]
    assert got.summary.kmeans_cost == 0.0


@pytest.fixture(scope="module")
def predictions(
    spark: SparkSession, tmp_path_factory: pytest.TempPathFactory
) -> tuple[np.ndarray, np.ndarray, DataFrame]:
    """2 * 10^4 rows: 8 features in clusters, softmax probabilities over 4 classes."""
    rng = np.random.default_rng(1)
    n = 20_000
    centres = rng.normal(scale=3.0, size=(12, 8))
    h = centres[rng.integers(12, size=n)] + rng.normal(size=(n, 8))
    logits = h[:, :4] * 0.8 + rng.normal(size=(n, 4))
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    return h, p, numpy_frame(spark, tmp_path_factory.mktemp("badge"), h, p)


def _cost(a: np.ndarray, h: np.ndarray, chosen: list[int]) -> float:
    parts = [
        sq_dists(a[s : s + 4096], h[s : s + 4096], a[chosen], h[chosen]).min(1)
        for s in range(0, len(a), 4096)
    ]
    return float(np.concatenate(parts).sum())


def _sequential_kmeanspp(a: np.ndarray, h: np.ndarray, k: int, seed: int) -> list[int]:
    """BADGE's own seeding on one machine: the largest-norm row, then exact D^2 sampling."""
    rng = np.random.default_rng(seed)
    norms = np.einsum("ij,ij->i", a, a) * np.einsum("ij,ij->i", h, h)
    picks = [int(np.argmax(norms))]
    d2 = sq_dists(a, h, a[picks], h[picks])[:, 0]
    while len(picks) < k:
        j = int(rng.choice(len(a), p=d2 / d2.sum()))
        picks.append(j)
        d2 = np.minimum(d2, sq_dists(a, h, a[[j]], h[[j]])[:, 0])
    return picks


def test_cost_within_15_percent_of_sequential_kmeanspp(
    predictions: tuple[np.ndarray, np.ndarray, DataFrame],
) -> None:
    h, p, df = predictions
    a, k = gradient_factors(p), 24
    features = [f"emb_{j}" for j in range(8)]
    sequential = np.median([_cost(a, h, _sequential_kmeanspp(a, h, k, s)) for s in range(5)])
    costs = []
    for seed in (1, 2, 3):
        got = select_badge(df, Badge(batch_size=k, features=features, seed=seed))
        ids = _ids(got.rows)
        assert len(ids) == len(set(ids)) == k
        norms = np.einsum("ij,ij->i", a, a) * np.einsum("ij,ij->i", h, h)
        assert ids[0] == int(np.argmax(norms))
        assert got.summary.kmeans_cost == pytest.approx(_cost(a, h, ids), rel=1e-9)
        costs.append(got.summary.kmeans_cost)
        if seed == 1:
            first = ids
    assert np.median(costs) <= 1.15 * sequential, (costs, sequential)
    # The same seed gives the same rows whatever the order and partitioning of the input.
    shuffled = df.repartition(3, F.rand(2))
    assert _ids(shuffled.transform(badge(k, features=features, seed=1))) == first


def test_select_runs_badge_and_excludes_labeled(spark: SparkSession, tmp_path: Path) -> None:
    df = spark.createDataFrame(ROWS, SCHEMA)
    labeled = spark.createDataFrame([(2,), (3,)], "id long")
    params = Badge(batch_size=2, rounds=2)
    got = select(df, params, labeled=labeled)
    ids = _ids(got.rows)
    assert ids[0] == 4
    assert 2 not in ids and 3 not in ids and len(ids) == 2
    assert got.summary.passes == 6


def test_both_row_transfers_select_the_same_rows(
    predictions: tuple[np.ndarray, np.ndarray, DataFrame],
) -> None:
    _, _, df = predictions
    spark = df.sparkSession
    if not arrow_usable(spark):
        pytest.skip("pyarrow is not importable here: only the row transfer can run")
    features = [f"emb_{j}" for j in range(8)]
    got = {}
    for transfer in ("rows", "arrow"):
        spark.conf.set(ROW_TRANSFER_CONF, transfer)
        try:
            got[transfer] = select_badge(df, Badge(batch_size=16, features=features, seed=5))
        finally:
            spark.conf.unset(ROW_TRANSFER_CONF)
    rows, arrow = got["rows"], got["arrow"]
    assert (rows.summary.transfer, arrow.summary.transfer) == ("rows", "arrow")
    assert _ids(rows.rows) == _ids(arrow.rows)
    assert replace(rows.summary, transfer="") == replace(arrow.summary, transfer="")


HEAD_KEYS = [
    "algorithm",
    "embedding",
    "metric",
    "feature_columns",
    "classes",
    "rounds",
    "oversampling",
    "partitions",
    "transfer",
    "passes",
    "pass_detail",
    "rows",
    "candidates",
]


def test_summary_metadata_keeps_the_keys_of_an_empty_and_a_measured_pool() -> None:
    common: dict[str, Any] = {
        "metric": Metric.EUCLIDEAN,
        "feature_columns": ("f0", "f1"),
        "classes": 2,
        "rounds": 3,
        "oversampling": 8,
        "partitions": 1,
        "transfer": "rows",
    }
    empty = BadgeSummary(**common, rows=0, candidates=0, kmeans_cost=0.0).metadata()
    assert list(empty) == [*HEAD_KEYS, "kmeans_cost"]
    assert empty["passes"] == 7 and empty["feature_columns"] == ["f0", "f1"]
    measured = BadgeSummary(
        **common,
        rows=40,
        candidates=25,
        kmeans_cost=1.5,
        first_pick_norm=2.0,
        round_costs=(9.0, math.inf, 3.0),
        candidates_cost=2.5,
    ).metadata()
    tail = ["first_pick_norm", "round_costs", "candidates_cost", "kmeans_cost"]
    assert list(measured) == [*HEAD_KEYS, *tail]
    assert measured["round_costs"] == [9.0, None, 3.0]
    json.dumps(measured, allow_nan=False)
