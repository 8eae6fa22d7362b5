"""Diversity: the two-round k-center core-set against exact answers and sequential greedy."""

from __future__ import annotations

import itertools
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

from selection.engine.distances import nearest_sq_dist
from selection.engine.transfer import ROW_TRANSFER_CONF, arrow_usable, partition_count
from selection.names import Metric
from selection.strategies import Diversity, select
from selection.strategies.diversity import DiversitySummary, diversity, select_diversity
from selection.strategies.diversity_kernels import farthest_first
from tests.helpers import numpy_frame

FEATURES = ["emb_0", "emb_1"]


def _covering(x: np.ndarray, centres: np.ndarray) -> float:
    d2 = ((x[:, None, :] - centres[None, :, :]) ** 2).sum(-1).min(1)
    return math.sqrt(float(d2.max()))


def _brute_force_opt(x: np.ndarray, k: int) -> float:
    """Discrete k-center optimum (centres are rows); at least the continuous one."""
    return min(_covering(x, x[list(c)]) for c in itertools.combinations(range(len(x)), k))


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


def test_exact_rows_with_labeled_centres(spark: SparkSession) -> None:
    """Labeled rows at 0 and 25: the picks do not depend on the seed or the partitions."""
    pool = [
        (1, 1.0, 0.0, 0.9, 0.1),
        (2, 2.0, 0.0, 0.5, 0.5),
        (3, 3.0, 0.0, 0.8, 0.2),
        (4, 10.0, 0.0, 0.7, 0.3),
        (5, 20.0, 0.0, 0.6, 0.4),
        (99, 25.0, 0.0, 0.5, 0.5),  # labeled already: never selected, though the farthest
    ]
    df = spark.createDataFrame(pool, SCHEMA).repartition(3)
    labeled = spark.createDataFrame(
        [(98, 0.0, 0.0), (99, 25.0, 0.0)], "id long, emb_0 double, emb_1 double"
    )
    got = select_diversity(df, Diversity(batch_size=2, features=FEATURES, seed=1), labeled=labeled)
    expected_schema = StructType(
        [
            *SCHEMA.fields,
            StructField("uncertainty_score", DoubleType()),
            StructField("data_source", StringType(), nullable=False),
            StructField("selection_rank", LongType()),
        ]
    )
    expected = spark.createDataFrame(
        [
            (4, 10.0, 0.0, 0.7, 0.3, 0.6, "active_learning", 1),
            (5, 20.0, 0.0, 0.6, 0.4, 0.8, "active_learning", 2),
        ],
        expected_schema,
    )
    assert_approx_df_equality(got.rows, expected, 1e-12, ignore_nullable=True)
    f = got.summary
    assert f.covering_radius == pytest.approx(3.0)
    assert f.labeled_centres == 2
    assert f.rows == 5
    # 10 is farthest from the labeled 0 and 25, then 20; row 3 is left 3 from 0.
    assert f.driver_radius == pytest.approx(3.0)


@pytest.mark.parametrize("seed", [3, 4])
def test_tiny_sets_against_the_brute_force_optimum(
    spark: SparkSession, tmp_path: Path, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    x = np.vstack(
        [
            rng.normal(size=(8, 2)),
            rng.normal(size=(6, 2)) + np.array([6.0, 0.0]),
            rng.normal(size=(4, 2)) * 0.5 + np.array([0.0, 9.0]),
        ]
    )
    df = numpy_frame(spark, tmp_path, x)
    k = 3
    # Two partitions of 9 rows each and tau = 6: the core-set really is a subset.
    got = select_diversity(df, Diversity(batch_size=k, features=FEATURES, seed=seed), partitions=2)
    f = got.summary
    ids = _ids(got.rows)
    assert len(set(ids)) == k
    assert f.candidates <= 12
    opt = _brute_force_opt(x, k)
    radius = _covering(x, x[ids])
    assert f.covering_radius == pytest.approx(radius, rel=1e-9)
    assert radius <= 4 * opt + 1e-9
    assert radius <= f.driver_radius + f.max_local_radius + 1e-9
    assert f.opt_lower_bound <= opt + 1e-9
    assert f.certified_ratio == pytest.approx(radius / f.opt_lower_bound)


def test_cosine_uses_directions_only(spark: SparkSession) -> None:
    pool = [
        (1, 2.0, 0.0, 0.5, 0.5),  # 0 degrees
        (2, 0.0, 3.0, 0.5, 0.5),  # 90
        (3, 1.0, 1.0, 0.5, 0.5),  # 45
        (4, -0.5, 0.05, 0.5, 0.5),  # about 174, yet near in euclidean distance
    ]
    df = spark.createDataFrame(pool, SCHEMA)
    labeled = spark.createDataFrame([(0, 5.0, 0.0)], "id long, emb_0 double, emb_1 double")
    cos = select_diversity(
        df, Diversity(batch_size=2, metric="cosine", features=FEATURES), labeled=labeled
    )
    assert _ids(cos.rows) == [4, 2]
    assert cos.summary.covering_radius == pytest.approx(2 * math.sin(math.radians(22.5)))
    # Euclidean distances would start elsewhere: row 2 is farthest from the labeled (5, 0).
    x = np.array([r[1:3] for r in pool])
    init = ((x - np.array([5.0, 0.0])) ** 2).sum(1)
    assert farthest_first(x, 1, init_sq=init)[0] == [1]


@pytest.fixture(scope="module")
def blobs(
    spark: SparkSession, tmp_path_factory: pytest.TempPathFactory
) -> tuple[np.ndarray, DataFrame]:
    """10^5 rows of a Gaussian mixture in 8 dimensions."""
    rng = np.random.default_rng(7)
    centres = rng.normal(scale=6.0, size=(20, 8))
    x = centres[rng.integers(20, size=100_000)] + rng.normal(size=(100_000, 8))
    return x, numpy_frame(spark, tmp_path_factory.mktemp("blobs"), x)


def test_large_within_15_percent_of_sequential(blobs: tuple[np.ndarray, DataFrame]) -> None:
    x, df = blobs
    k = 32
    got = select_diversity(
        df, Diversity(batch_size=k, features=[f"emb_{j}" for j in range(8)], seed=11)
    )
    ids = _ids(got.rows)
    assert len(ids) == len(set(ids)) == k
    _, sequential = farthest_first(x, k, start=0)
    radius = got.summary.covering_radius
    assert radius == pytest.approx(math.sqrt(nearest_sq_dist(x, x[ids]).max()), rel=1e-9)
    assert radius <= 1.15 * sequential, (radius, sequential)
    assert radius <= got.summary.radius_upper_bound + 1e-9
    assert got.summary.rows == 100_000


def test_rare_far_clusters_are_covered(spark: SparkSession, tmp_path: Path) -> None:
    """Five clusters of 4 rows far from 10^5 bulk rows: every one must get a centre."""
    rng = np.random.default_rng(5)
    bulk = rng.normal(size=(100_000 - 20, 4))
    spots = np.vstack([50 * np.eye(4), [-50.0, 0.0, 0.0, 0.0]])
    far = np.repeat(spots, 4, axis=0) + rng.normal(size=(20, 4)) * 0.1
    x = np.vstack([bulk, far])
    order = rng.permutation(len(x))
    x = x[order]
    df = numpy_frame(spark, tmp_path, x)
    k = 12
    got = select_diversity(
        df, Diversity(batch_size=k, features=[f"emb_{j}" for j in range(4)], seed=2)
    )
    ids = _ids(got.rows)
    rare = set(np.flatnonzero(order >= len(bulk)).tolist())
    assert len(rare & set(ids)) == 5
    _, sequential = farthest_first(x, k, start=0)
    assert got.summary.covering_radius <= 1.1 * sequential
    # Why the candidates must come from farthest-first: a uniform sample of as many rows
    # misses the rare clusters and leaves a radius several times larger.
    sample = rng.choice(len(x), size=got.summary.candidates, replace=False)
    picks, _ = farthest_first(x[sample], k, start=0)
    uniform = math.sqrt(nearest_sq_dist(x, x[sample][picks]).max())
    assert uniform > 3 * got.summary.covering_radius


def test_same_seed_same_ids_whatever_the_input_order(blobs: tuple[np.ndarray, DataFrame]) -> None:
    _, df = blobs
    small = df.filter("id < 2000")
    features = [f"emb_{j}" for j in range(8)]
    first = select_diversity(small, Diversity(batch_size=16, features=features, seed=9))
    # P comes from the input's bytes, not its partitions: another layout, the same partitions.
    shuffled = small.repartition(7, F.rand(1))
    assert partition_count(shuffled) == partition_count(small)
    again = select_diversity(shuffled, Diversity(batch_size=16, features=features, seed=9))
    assert _ids(first.rows) == _ids(again.rows)
    assert first.summary == again.summary
    assert first.summary.groups >= 16
    assert _ids(shuffled.transform(diversity(16, features=features, seed=9))) == _ids(first.rows)


def test_both_row_transfers_select_the_same_rows(blobs: tuple[np.ndarray, DataFrame]) -> None:
    _, df = blobs
    spark = df.sparkSession
    if not arrow_usable(spark):
        pytest.skip("pyarrow is not importable here: only the row transfer can run")
    features = [f"emb_{j}" for j in range(8)]
    got = {}
    for transfer in ("rows", "arrow"):
        spark.conf.set(ROW_TRANSFER_CONF, transfer)
        try:
            got[transfer] = select_diversity(
                df, Diversity(batch_size=24, features=features, seed=4)
            )
        finally:
            spark.conf.unset(ROW_TRANSFER_CONF)
    rows, arrow = got["rows"], got["arrow"]
    assert (rows.summary.transfer, arrow.summary.transfer) == ("rows", "arrow")
    assert _ids(rows.rows) == _ids(arrow.rows)
    assert replace(rows.summary, transfer="") == replace(arrow.summary, transfer="")


def test_far_from_the_origin(spark: SparkSession, tmp_path: Path) -> None:
    """Features around 10^6: float32 distances work on rows shifted to their mean."""
    rng = np.random.default_rng(8)
    centres = rng.normal(scale=5.0, size=(6, 3))
    x = centres[rng.integers(6, size=3000)] + rng.normal(size=(3000, 3)) + 1e6
    df = numpy_frame(spark, tmp_path, x)
    got = select_diversity(
        df, Diversity(batch_size=10, features=["emb_0", "emb_1", "emb_2"], seed=1)
    )
    ids = _ids(got.rows)
    brute = math.sqrt(max(((x[:, None, :] - x[ids][None, :, :]) ** 2).sum(-1).min(1)))
    assert got.summary.covering_radius == pytest.approx(brute, rel=1e-9)
    _, sequential = farthest_first(x, 10, start=0)
    assert got.summary.covering_radius <= 1.15 * sequential


def test_select_runs_diversity_and_excludes_labeled(spark: SparkSession) -> None:
    rows = [(i, float(i), float(i % 3), 0.5, 0.5) for i in range(12)]
    df = spark.createDataFrame(rows, SCHEMA)
    labeled = spark.createDataFrame(
        [(11, 11.0, 2.0), (0, 0.0, 0.0)], "id long, emb_0 double, emb_1 double"
    )
    params = Diversity(batch_size=20)
    got = select(df, params, labeled=labeled)
    assert sorted(_ids(got.rows)) == list(range(1, 11))
    assert got.summary.covering_radius == 0.0
    assert got.summary.feature_columns == tuple(FEATURES)


# The metadata's strategy_figures keys, in order, as the job has always written them.
SUMMARY_KEYS = [
    "algorithm",
    "metric",
    "distance",
    "feature_columns",
    "rows",
    "partitions",
    "groups",
    "tau",
    "candidates",
    "covering_radius",
    "driver_radius",
    "max_local_radius",
    "radius_upper_bound",
    "opt_lower_bound",
    "certified_ratio",
    "labeled_rows",
    "labeled_centres",
    "labeled_thinning_radius",
    "transfer",
    "passes",
    "pass_detail",
]


def test_summary_metadata_keeps_the_keys_and_json_values() -> None:
    summary = DiversitySummary(
        metric=Metric.COSINE,
        feature_columns=("f0",),
        rows=10,
        partitions=1,
        groups=1,
        tau=4,
        candidates=4,
        covering_radius=math.inf,
        driver_radius=1.0,
        max_local_radius=0.5,
        opt_lower_bound=0.0,
        labeled_rows=0,
        labeled_centres=0,
        labeled_thinning_radius=0.0,
        transfer="rows",
        labeled_pass=True,
    )
    doc = summary.metadata()
    assert list(doc) == SUMMARY_KEYS
    assert (doc["covering_radius"], doc["certified_ratio"]) == (None, None)
    assert doc["radius_upper_bound"] == summary.radius_upper_bound == 1.5
    assert doc["feature_columns"] == ["f0"] and doc["passes"] == 3
    assert doc["distance"].startswith("euclidean between L2-normalised rows")
    assert doc["pass_detail"].endswith("; plus one pass over the labeled data")
    json.dumps(doc, allow_nan=False)
    finite = replace(summary, covering_radius=3.0, opt_lower_bound=2.0, labeled_pass=False)
    assert finite.certified_ratio == finite.metadata()["certified_ratio"] == 1.5
