"""BADGE (Ash et al., ICLR 2020): k-means++ seeding on gradient embeddings, at cluster scale.

The model-agnostic embedding of a row is g = a (x) h with a = p - e_argmax(p) and h its features.
g has C * D entries and is never built: <g_i, g_j> = <a_i, a_j> <h_i, h_j>, so a distance costs
O(C + D). k-means++ needs a pass per centre; k-means|| (Bahmani et al., VLDB 2012) needs a few
rounds that each add about k rows drawn in proportion to D^2, then weighted k-means++ over those
candidates on the driver. Each row carries its D^2 and nearest candidate from round to round, so
a round measures only the centres the previous one drew. The output must be real rows, so there
is no Lloyd step. The kernels are in `badge_kernels`, what each pass runs in `badge_rounds`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar

import numpy as np
from pyspark import RDD
from pyspark.sql import DataFrame

from selection.engine.blocks import cache_with_summaries, raise_on_bad_rows
from selection.engine.frames import exclude_labeled, fetch_selected, with_features
from selection.engine.scores import ScoreSpec
from selection.engine.transfer import hashed_blocks, keyed_rows, partition_count
from selection.names import Metric, Strategy, UncertaintyMode
from selection.params import EmbeddingParams, as_enum, at_least, param
from selection.strategies.badge_kernels import Centres, Draws, weighted_kmeanspp
from selection.strategies.badge_rounds import (
    RoundInput,
    TopNorm,
    gradient_rows,
    kmeans_round,
    selection_cost,
    weigh,
)
from selection.strategies.result import Selected, StrategySummary, Transform, as_float


@dataclass(frozen=True, kw_only=True)
class Badge(EmbeddingParams):
    """BADGE: k-means|| seeding over gradient embeddings, `batch_size` diverse uncertain rows."""

    strategy = Strategy.BADGE
    rounds: int = param(5, "k-means|| oversampling rounds")

    def __post_init__(self) -> None:
        super().__post_init__()
        at_least("rounds", self.rounds, 1)


@dataclass(frozen=True, kw_only=True)
class BadgeSummary(StrategySummary):
    """The k-means figures of a BADGE selection. Costs are sums of squared gradient-embedding
    distances, exact (float64). Without a row to select, nothing is measured: the norm and
    the round and candidate costs are None and left out of the metadata."""

    ALGORITHM: ClassVar[str] = (
        "k-means|| seeding (Bahmani et al.), then weighted k-means++ on the driver; no Lloyd step"
    )
    EMBEDDING: ClassVar[str] = (
        "g = (p - e_argmax p) outer h, never materialised: <g_i, g_j> = <a_i, a_j> <h_i, h_j>"
    )

    metric: Metric
    feature_columns: tuple[str, ...]
    classes: int
    rounds: int
    oversampling: int  # rows drawn per round
    partitions: int
    transfer: str  # how rows reached Python: rows or arrow
    rows: int  # rows of the pool (the input without the labelled rows)
    candidates: int
    kmeans_cost: float  # of the selection, over the pool
    first_pick_norm: float | None = None  # ||g|| of the first pick, the largest
    round_costs: tuple[float, ...] | None = None  # before each round's draws
    candidates_cost: float | None = None  # against every candidate

    @property
    def passes(self) -> int:
        return self.rounds + 4

    def metadata(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "algorithm": self.ALGORITHM,
            "embedding": self.EMBEDDING,
            "metric": self.metric.value,
            "feature_columns": list(self.feature_columns),
            "classes": self.classes,
            "rounds": self.rounds,
            "oversampling": self.oversampling,
            "partitions": self.partitions,
            "transfer": self.transfer,
            "passes": self.passes,
            "pass_detail": "scan into cached (a, h) rows + first centre; one pass per round "
            "(only the previous round's draws are measured); candidate weights (the last "
            "round's draws); cost of the selection; filtered scan for the chosen rows",
            "rows": self.rows,
            "candidates": self.candidates,
        }
        if self.first_pick_norm is not None:
            out["first_pick_norm"] = as_float(self.first_pick_norm)
        if self.round_costs is not None:
            out["round_costs"] = [as_float(v) for v in self.round_costs]
        if self.candidates_cost is not None:
            out["candidates_cost"] = as_float(self.candidates_cost)
        out["kmeans_cost"] = as_float(self.kmeans_cost)
        return out


@dataclass
class _Candidates:
    """The driver's growing candidate list, in the order the rounds drew them."""

    ids: list[Any]
    keys: list[np.ndarray]
    a: list[np.ndarray]
    h: list[np.ndarray]

    def add(self, draws: Draws) -> Centres:
        """Append `draws`; they are the centres the next pass measures."""
        offset = len(self.ids)
        self.ids.extend(draws.ids.tolist())
        self.keys.append(draws.keys)
        self.a.append(draws.a)
        self.h.append(draws.h)
        return Centres(draws.a, draws.h, offset)

    def factors(self) -> tuple[np.ndarray, np.ndarray]:
        return np.concatenate(self.a), np.concatenate(self.h)


def _oversample(
    rows: RDD[Any], first: TopNorm, rounds: int, ell: int, keep: list[Any]
) -> tuple[RDD[Any] | None, _Candidates, Centres, list[float]]:
    """k-means|| rounds from the first centre over the cached rows.

    Each round caches the rows' new `Coverage` (8 bytes a row, item for item with the rows;
    the rows themselves are not rewritten) and drops the previous one. Returns the last
    coverage (None without rounds), the candidates, the centres no pass has measured yet, and
    each round's cost. `keep` collects what the caller must release.
    """
    sc = rows.context
    cands = _Candidates([], [], [], [])
    ident = np.empty(1, dtype=object)
    ident[0] = first.id
    pending = cands.add(
        Draws(np.ones(1, bool), np.zeros(1), first.key, ident, first.a[None, :], first.h[None, :])
    )
    costs: list[float] = []
    cover: RDD[Any] | None = None
    for r in range(rounds):
        excluded = np.sort(np.concatenate(cands.keys))
        spec = sc.broadcast(RoundInput(pending, excluded, r + 1, ell))
        keep.append(spec)
        source = rows if cover is None else rows.zip(cover)
        nxt, summaries = cache_with_summaries(source, partial(kmeans_round, spec=spec))
        keep.append(nxt)
        if cover is not None:
            cover.unpersist()
        cover = nxt
        costs.append(sum(s.cost for s in summaries))
        pending = cands.add(Draws.best([s.draws for s in summaries], ell))
    return cover, cands, pending, costs


def select_badge(
    df: DataFrame, params: Badge, *, labeled: DataFrame | None = None
) -> Selected[BadgeSummary]:
    """BADGE's `batch_size` rows and the k-means figures; runs its Spark jobs when called.

    One scan carries (hash, id, features, scores) into Python as cached rows of (a, h); each
    round, the weights and the final cost read the cache; a last filtered scan fetches the
    chosen rows. Rows whose id is in `labeled` are never selected.
    """
    if not params.features:
        params = with_features(params, df)
    sc = df.sparkSession.sparkContext
    id_col, features, scores = params.id_col, params.features, params.scores
    batch_size, rounds, mode = params.batch_size, params.rounds, params.mode
    pool = exclude_labeled(df, labeled, id_col)
    probs = scores.probabilities(pool)
    d, c, ell = len(features), len(probs), batch_size
    parts = partition_count(df)
    keyed = keyed_rows(pool, id_col, features, params.seed, extra=probs)
    blocks, transfer = hashed_blocks(keyed, d, parts, c)
    described = partial(
        BadgeSummary,
        metric=params.metric,
        feature_columns=tuple(features),
        classes=c,
        rounds=rounds,
        oversampling=ell,
        partitions=parts,
        transfer=transfer,
    )
    keep: list[Any] = []  # broadcasts to destroy and coverage caches to drop
    cached, tops = cache_with_summaries(blocks, partial(gradient_rows, metric=params.metric.value))
    try:
        examples = [t.bad_example for t in tops if t.bad_example is not None]
        raise_on_bad_rows(
            sum(t.bad_rows for t in tops),
            min(examples) if examples else None,
            [*features, *scores.columns(pool)],
            "feature or score columns",
        )
        found = [t for t in tops if t.id is not None]
        if not found:
            empty = fetch_selected(df, id_col, [], mode=mode, scores=scores)
            return Selected(empty, described(rows=0, candidates=0, kmeans_cost=0.0))
        best = max(t.norm for t in found)
        first = min((t for t in found if t.norm == best), key=lambda t: t.id)
        cover, cands, pending, costs = _oversample(cached, first, rounds, ell, keep)
        covered = cached if cover is None else cached.zip(cover)
        measure = sc.broadcast(pending)
        keep.append(measure)
        count = len(cands.ids)
        assigned = covered.mapPartitions(partial(weigh, centres=measure, count=count)).collect()
        weights = np.sum([w for _, w in assigned], axis=0).astype(np.float64)
        cand_a, cand_h = cands.factors()
        picks = weighted_kmeanspp(
            cand_a, cand_h, weights, batch_size, np.random.default_rng(params.seed)
        )
        chosen = sc.broadcast(Centres(cand_a[picks], cand_h[picks], 0))
        keep.append(chosen)
        cost = sum(cached.mapPartitions(partial(selection_cost, chosen=chosen)).collect())
    finally:
        cached.unpersist()
        for value in keep:
            if isinstance(value, RDD):
                value.unpersist()
            else:
                value.destroy()
    summary = described(
        rows=int(weights.sum()),
        candidates=count,
        kmeans_cost=cost,
        first_pick_norm=math.sqrt(max(best, 0.0)),
        round_costs=tuple(costs),
        candidates_cost=sum(v for v, _ in assigned),
    )
    out = fetch_selected(df, id_col, [cands.ids[i] for i in picks], mode=mode, scores=scores)
    return Selected(out, summary)


def badge(
    batch_size: int = Badge.batch_size,
    *,
    id_col: str = Badge.id_col,
    features: Sequence[str] = Badge.features,
    metric: Metric | str = Badge.metric,
    seed: int = Badge.seed,
    rounds: int = Badge.rounds,
    mode: UncertaintyMode | str = Badge.mode,
    scores: ScoreSpec = Badge.scores,
    labeled: DataFrame | None = None,
) -> Transform:
    """Transform form of `select_badge(df, Badge(...))`; runs Spark jobs when applied."""
    params = Badge(
        batch_size=batch_size,
        id_col=id_col,
        features=tuple(features),
        metric=as_enum(Metric, "metric", metric),
        seed=seed,
        rounds=rounds,
        mode=as_enum(UncertaintyMode, "mode", mode),
        scores=scores,
    )
    return lambda df: select_badge(df, params, labeled=labeled).rows
