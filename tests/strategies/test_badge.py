"""BADGE: factorised gradient distances, k-means|| seeding, and cost against k-means++."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from chispa import assert_approx_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType

from selection.engine.blocks import ROW_TRANSFER_CONF, arrow_usable
from selection.strategies import Badge, select
from selection.strategies.badge import (
    CentreOperands,
    Centres,
    Coverage,
    GradientRows,
    badge,
    best_draws,
    gradient_factors,
    select_badge,
    sq_dists,
    uniforms,
    update_nearest,
    weighted_kmeanspp,
)
from tests.helpers import numpy_frame


def _ids(df: DataFrame) -> list[Any]:
    return [r["id"] for r in df.orderBy("selection_rank").collect()]


def test_factorised_distances_equal_the_materialised_embedding() -> None:
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(4), size=9)
    h = rng.normal(size=(9, 5))
    a = gradient_factors(p)
    g = np.einsum("ic,id->icd", a, h).reshape(9, 20)  # what BADGE never builds
    brute = ((g[:, None, :] - g[None, 2:5, :]) ** 2).sum(-1)
    np.testing.assert_allclose(sq_dists(a, h, a[2:5], h[2:5]), brute, atol=1e-12)
    assert np.all(sq_dists(a, h, a, h).diagonal() == 0.0)


def test_gradient_factor_takes_the_lowest_class_on_a_tie() -> None:
    a = gradient_factors(np.array([[0.4, 0.4, 0.2]]))
    np.testing.assert_allclose(a, [[-0.6, 0.4, 0.2]])


def test_uniforms_are_seeded_per_row_and_round() -> None:
    keys = np.arange(100_000, dtype=np.int64).view(np.uint64)
    u = uniforms(keys, 1)
    assert np.all((u > 0) & (u < 1))
    assert abs(u.mean() - 0.5) < 0.01
    np.testing.assert_array_equal(u, uniforms(keys, 1))
    assert np.mean(u == uniforms(keys, 2)) < 1e-4


def test_weighted_kmeanspp_never_takes_a_covered_candidate_while_others_remain() -> None:
    a = np.array([[1.0, -1.0], [1.0, -1.0], [0.5, -0.5], [-1.0, 1.0]])
    h = np.ones((4, 1))
    rng = np.random.default_rng(0)
    # Candidate 1 duplicates candidate 0; zero-weight candidate 2 is never drawn either.
    picks = weighted_kmeanspp(a, h, np.array([5.0, 3.0, 0.0, 1.0]), 2, rng)
    assert picks == [0, 3]
    # Nothing left at a positive distance: the heaviest remaining ones fill the batch.
    assert weighted_kmeanspp(a, h, np.array([5.0, 3.0, 0.0, 1.0]), 4, rng)[2:] == [1, 2]


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
    got = select_badge(df, 10, id_col="id", features=features, rounds=2, labeled=labeled)
    ids = _ids(got.rows)
    assert ids[0] == 3  # the largest norm once 2 is labeled
    assert sorted(ids) == [1, 3, 4, 5]
    assert got.figures["kmeans_cost"] == 0.0


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
        got = select_badge(df, k, id_col="id", features=features, seed=seed)
        ids = _ids(got.rows)
        assert len(ids) == len(set(ids)) == k
        norms = np.einsum("ij,ij->i", a, a) * np.einsum("ij,ij->i", h, h)
        assert ids[0] == int(np.argmax(norms))
        assert got.figures["kmeans_cost"] == pytest.approx(_cost(a, h, ids), rel=1e-9)
        costs.append(got.figures["kmeans_cost"])
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
    assert got.figures["passes"] == 6


def _rows(a: np.ndarray, h: np.ndarray, keys: np.ndarray) -> GradientRows:
    return GradientRows(np.arange(len(a)), keys, a, h)


def test_carried_distances_equal_a_full_recompute() -> None:
    """D^2 updated round by round with only the new centres = D^2 to all of them at once."""
    rng = np.random.default_rng(3)
    a = gradient_factors(rng.dirichlet(np.ones(5), size=4000))
    h = rng.normal(size=(4000, 7)) * 3
    rows = _rows(a, h, np.arange(4000, dtype=np.uint64))
    block = Coverage.empty(4000)
    rounds = [np.arange(0, 1), np.arange(1, 60), np.arange(60, 400)]
    for idx in rounds:
        centres = CentreOperands.of(Centres(a[idx], h[idx], int(idx[0])))
        block = update_nearest(rows, block, centres)
    full = sq_dists(a, h, a[:400], h[:400])
    best = full.min(axis=1)
    norms = np.einsum("ij,ij->i", a, a) * np.einsum("ij,ij->i", h, h)
    tol = 1e-4 * (norms + norms[:400].max())
    assert np.all(np.abs(block.d2 - best) <= tol)
    # The carried index names a centre at that distance (a near tie may name its twin).
    assert np.all(np.abs(full[np.arange(4000), block.nearest] - best) <= 2 * tol)
    assert np.all(block.d2[:400] == 0.0)  # every centre is at D^2 = 0 from itself


def test_draws_skip_candidates_and_fill_a_shortfall_by_u() -> None:
    rng = np.random.default_rng(4)
    a = gradient_factors(rng.dirichlet(np.ones(3), size=50))
    h = rng.normal(size=(50, 2))
    keys = np.arange(100, 150, dtype=np.uint64)
    block = _rows(a, h, keys)
    d2 = np.zeros(50, dtype=np.float32)
    d2[[3, 7]] = [1.0, 2.0]
    cover = Coverage(d2, np.zeros(50, dtype=np.int32))
    excluded = np.array([105, 120], dtype=np.uint64)
    got = best_draws(block, cover, ell=6, stream=1, excluded=excluded, floor=-np.inf)
    assert got.ids[:2].tolist() in ([3, 7], [7, 3])  # D^2 > 0 first
    assert got.weighted.tolist() == [True, True, False, False, False, False]
    rest = [i for i in range(50) if i not in (3, 7, 5, 20)]
    u = uniforms(keys, 1)
    assert got.ids[2:].tolist() == sorted(rest, key=lambda i: -u[i])[:4]
    # With enough rows at D^2 > 0, rows at 0 are never drawn and the floor cuts the rest.
    cover = Coverage(np.linspace(1.0, 2.0, 50).astype(np.float32), cover.nearest)
    every = best_draws(block, cover, ell=50, stream=2, excluded=excluded, floor=-np.inf)
    assert len(every) == 48 and every.weighted.all() and not set(every.ids) & {5, 20}
    top = best_draws(block, cover, ell=5, stream=2, excluded=excluded, floor=float(every.score[9]))
    assert top.ids.tolist() == every.ids[:5].tolist()


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
            got[transfer] = select_badge(df, 16, id_col="id", features=features, seed=5)
        finally:
            spark.conf.unset(ROW_TRANSFER_CONF)
    rows, arrow = got["rows"], got["arrow"]
    assert (rows.figures["transfer"], arrow.figures["transfer"]) == ("rows", "arrow")
    assert _ids(rows.rows) == _ids(arrow.rows)
    assert {**rows.figures, "transfer": None} == {**arrow.figures, "transfer": None}
