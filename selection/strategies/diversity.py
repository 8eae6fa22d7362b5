"""Diversity sampling: a k-center core-set built in two rounds, so it scales past one machine.

Exact greedy k-center (Gonzalez's farthest-first) needs one pass over the data per pick. The
two-round composable core-set (Malkomes et al. 2015; Ceccarello, Pietracaprina, Pucci 2019)
runs farthest-first inside each (seeded, random) partition to tau = 2k candidates, then again on
the driver over the candidates only. For every row x, with r_p the radius left in its partition
and R_T the radius left on the driver: d(x, chosen) <= r_p + R_T, and the k + 1 points farthest-
first ends on are pairwise >= R_T apart, so OPT >= R_T / 2. See docs/diversity_badge.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from pyspark import RDD, Broadcast
from pyspark.sql import DataFrame

from selection.engine.blocks import (
    ID,
    KEY,
    Block,
    as_float,
    concat,
    exclude_labeled,
    fetch_selected,
    iter_blocks,
    keyed_rows,
    nearest_sq_dist,
    prepare_features,
    raise_on_bad_rows,
)
from selection.engine.scores import ScoreSpec
from selection.errors import SelectionInputError
from selection.names import Metric, Strategy, UncertaintyMode
from selection.params import EmbeddingParams, as_enum
from selection.strategies.result import Selected, Transform


@dataclass(frozen=True, kw_only=True)
class Diversity(EmbeddingParams):
    """`batch_size` rows that cover the pool with a small radius (k-center core-set)."""

    strategy = Strategy.DIVERSITY


LABELED_CENTRES_MIN = 1024  # labeled rows kept as centres before they are thinned to a core-set
# More partitions mean more candidates for the driver round: on small inputs a floor keeps R
# within a few percent of sequential farthest-first, at P * tau * d doubles on the driver.
MIN_PARTITIONS = 16
PARTITION_BYTES = 128 * 1024**2  # input bytes per partition, Spark's default split size


def farthest_first(
    x: np.ndarray, k: int, *, init_sq: np.ndarray | None = None, start: int = 0
) -> tuple[list[int], float]:
    """Gonzalez's greedy: up to k row indices in pick order, and the radius they leave.

    `init_sq`: squared distances to centres that exist already (labeled rows); the first pick
    is then the row farthest from them instead of `start`.
    """
    n = len(x)
    d2 = np.full(n, np.inf) if init_sq is None else np.array(init_sq, dtype=np.float64)
    picks: list[int] = []
    for i in range(min(k, n)):
        j = start if i == 0 and init_sq is None else int(np.argmax(d2))
        picks.append(j)
        diff = x - x[j]
        np.minimum(d2, np.einsum("ij,ij->i", diff, diff), out=d2)
        # Below every distance: never picked again, even when only duplicates remain.
        d2[j] = -1.0
    if n == len(picks):
        return picks, 0.0
    return picks, math.sqrt(max(float(d2.max()), 0.0))


LocalCoreset = tuple[list[Any], np.ndarray, np.ndarray, float, int, int, "str | None"]


def _local_coreset(
    rows: Iterable[Any], *, tau: int, d: int, metric: str, centres: Broadcast[np.ndarray] | None
) -> Iterator[LocalCoreset]:
    """Executor side: farthest-first to tau rows of one partition, and the radius it leaves."""
    block = concat(list(iter_blocks(rows, d)), d)
    x = prepare_features(block.x, metric)
    existing = centres.value if centres is not None else np.empty((0, d))
    init = nearest_sq_dist(x, existing) if len(existing) else None
    # Rows arrive sorted by their seeded hash, so index 0 is a seeded random start.
    picks, radius = farthest_first(x, tau, init_sq=init, start=0)
    ids = [block.ids[i] for i in picks]
    yield ids, x[picks], block.keys[picks], radius, len(block), block.bad_rows, block.bad_example


def _max_radius(
    rows: Iterable[Any], *, d: int, metric: str, centres: Broadcast[np.ndarray]
) -> Iterator[float]:
    """Executor side: the largest distance from a row of the partition to its nearest centre."""
    worst = 0.0
    for block in iter_blocks(rows, d):
        if len(block):
            x = prepare_features(block.x, metric)
            worst = max(worst, float(nearest_sq_dist(x, centres.value).max()))
    yield math.sqrt(worst)


def _gather(local: Sequence[LocalCoreset], d: int) -> tuple[Block, float, int, int, str | None]:
    """The candidates of every partition as one block, the largest local radius, row counts."""
    blocks = [Block(ids, keys, x, np.empty((len(ids), 0))) for ids, x, keys, *_ in local]
    examples = [r[6] for r in local if r[6] is not None]
    return (
        concat(blocks, d),
        max((r[3] for r in local), default=0.0),
        sum(r[4] for r in local),
        sum(r[5] for r in local),
        min(examples) if examples else None,
    )


def _ordered_rows(
    df: DataFrame, id_col: str, features: Sequence[str], seed: int, parts: int
) -> RDD[Any]:
    keyed = keyed_rows(df, id_col, features, seed)
    # Partition and order by a hash of (id, seed): the same seed gives the same partitions and
    # the same farthest-first starts whatever order the input rows arrive in.
    return keyed.repartition(parts, KEY).sortWithinPartitions(KEY, ID).rdd


def labeled_centres(
    labeled: DataFrame,
    *,
    id_col: str,
    features: Sequence[str],
    metric: Metric | str,
    seed: int,
    cap: int,
) -> tuple[np.ndarray, float, int]:
    """Labeled rows as existing centres: (centres, radius of the thinning, labeled rows).

    At most `cap` rows are kept, chosen by the same two-round core-set, so a large labeled set
    cannot flood the driver; every labeled row is within the returned radius of a kept one.
    """
    for name in features:
        if name not in labeled.columns:
            raise SelectionInputError(
                f"labeled data has no feature column '{name}'; it needs the same id and "
                "feature columns as the input"
            )
    d = len(features)
    keyed = keyed_rows(labeled, id_col, features, seed).sortWithinPartitions(KEY, ID)
    task = partial(_local_coreset, tau=cap, d=d, metric=str(metric), centres=None)
    local = keyed.rdd.mapPartitions(task).collect()
    cands, local_radius, rows, bad, example = _gather(local, d)
    raise_on_bad_rows(bad, example, features, "labeled data's feature columns")
    if len(cands) <= cap:
        return cands.x, local_radius, rows
    picks, driver_radius = farthest_first(cands.x, cap, start=int(np.argmin(cands.keys)))
    return cands.x[picks], local_radius + driver_radius, rows


def partition_count(df: DataFrame) -> int:
    """P for the core-set: from the input's size, not from how it is split or the cluster's cores.

    The candidates, hence the picks, depend on P; deriving it from the bytes of the input files
    (Spark's plan statistics, no job) keeps a seed's selection the same across split sizes,
    file counts and cluster sizes. Inputs without file statistics fall back to their partitions.
    """
    try:
        size = int(str(df._jdf.queryExecution().optimizedPlan().stats().sizeInBytes()))
    except Exception:  # statistics are an internal API: never fail a selection over them
        size = -1
    if 0 <= size < 2**62:  # an unknown size is reported as Long.MaxValue
        return max(MIN_PARTITIONS, math.ceil(size / PARTITION_BYTES))
    return max(MIN_PARTITIONS, df.rdd.getNumPartitions())


def select_diversity(
    df: DataFrame,
    batch_size: int,
    *,
    id_col: str,
    features: Sequence[str],
    metric: Metric | str = Metric.EUCLIDEAN,
    seed: int = 42,
    mode: UncertaintyMode | str = UncertaintyMode.MARGIN,
    scores: ScoreSpec = ScoreSpec(),
    labeled: DataFrame | None = None,
    partitions: int | None = None,
) -> Selected:
    """`batch_size` rows that cover the input with a small radius, and the figures that bound it.

    Runs its Spark jobs when called: a shuffle of (hash, id, features) with farthest-first in
    each partition, one more pass over the shuffled rows for the covering radius, and a filtered
    scan for the full rows. Labeled rows count as centres from the start and are never selected.
    """
    sc = df.sparkSession.sparkContext
    d, tau, metric = len(features), 2 * batch_size, Metric(metric)
    parts = partitions or partition_count(df)
    lab_x, lab_radius, lab_rows = np.empty((0, d)), 0.0, 0
    if labeled is not None:
        cap = max(LABELED_CENTRES_MIN, 4 * tau)
        lab_x, lab_radius, lab_rows = labeled_centres(
            labeled, id_col=id_col, features=features, metric=metric, seed=seed, cap=cap
        )
    rows = _ordered_rows(exclude_labeled(df, labeled, id_col), id_col, features, seed, parts)

    lab_bc = sc.broadcast(lab_x)
    task = partial(_local_coreset, tau=tau, d=d, metric=metric.value, centres=lab_bc)
    local = rows.mapPartitions(task).collect()
    cands, local_radius, n_rows, bad, example = _gather(local, d)
    raise_on_bad_rows(bad, example, features, "feature columns")

    init = nearest_sq_dist(cands.x, lab_x) if len(lab_x) else None
    start = int(np.argmin(cands.keys)) if len(cands) else 0
    picks, driver_radius = farthest_first(cands.x, batch_size, init_sq=init, start=start)
    centres = np.vstack([cands.x[picks], lab_x])

    radius = 0.0
    if len(centres) and n_rows:
        cen_bc = sc.broadcast(centres)
        task_r = partial(_max_radius, d=d, metric=metric.value, centres=cen_bc)
        radius = max(rows.mapPartitions(task_r).collect(), default=0.0)
        cen_bc.destroy()
    lab_bc.destroy()

    # Thinned labeled centres sit up to lab_radius from labeled rows they stand for.
    lower = (
        driver_radius / 2 if lab_radius == 0 else min(driver_radius / 2, driver_radius - lab_radius)
    )
    figures: dict[str, Any] = {
        "algorithm": "two-round composable k-center core-set (farthest-first per partition, "
        "then on the driver)",
        "metric": metric.value,
        "distance": "euclidean"
        if metric is Metric.EUCLIDEAN
        else "euclidean between L2-normalised rows = sqrt(2 * (1 - cosine similarity))",
        "feature_columns": list(features),
        "rows": n_rows,
        "partitions": parts,
        "tau": tau,
        "candidates": len(cands),
        "covering_radius": as_float(radius),
        "driver_radius": as_float(driver_radius),
        "max_local_radius": as_float(local_radius),
        "radius_upper_bound": as_float(driver_radius + local_radius),
        "opt_lower_bound": as_float(max(lower, 0.0)),
        "certified_ratio": as_float(radius / lower) if lower > 0 else None,
        "labeled_rows": lab_rows,
        "labeled_centres": len(lab_x),
        "labeled_thinning_radius": as_float(lab_radius),
        "passes": 3,
        "pass_detail": "shuffle + per-partition farthest-first; covering radius over the "
        "shuffled rows; filtered scan for the chosen rows"
        + ("; plus one pass over the labeled data" if labeled is not None else ""),
    }
    picked_ids = [cands.ids[i] for i in picks]
    out = fetch_selected(df, id_col, picked_ids, mode=mode, scores=scores)
    return Selected(rows=out, figures=figures)


def diversity(
    batch_size: int = Diversity.batch_size,
    *,
    id_col: str = Diversity.id_col,
    features: Sequence[str] = Diversity.features,
    metric: Metric | str = Diversity.metric,
    seed: int = Diversity.seed,
    mode: UncertaintyMode | str = Diversity.mode,
    scores: ScoreSpec = Diversity.scores,
    labeled: DataFrame | None = None,
) -> Transform:
    """Transform form of `select(df, Diversity(...))`; runs Spark jobs when applied."""
    from selection.strategies import select

    params = Diversity(
        batch_size=batch_size,
        id_col=id_col,
        features=tuple(features),
        metric=as_enum(Metric, "metric", metric),
        seed=seed,
        mode=as_enum(UncertaintyMode, "mode", mode),
        scores=scores,
    )
    return lambda df: select(df, params, labeled=labeled).rows
