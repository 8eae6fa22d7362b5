"""BADGE (Ash et al., ICLR 2020): k-means++ seeding on gradient embeddings, at cluster scale.

The model-agnostic embedding of a row is g = a (x) h with a = p - e_argmax(p) and h its features.
g has C * D entries and is never built: <g_i, g_j> = <a_i, a_j> <h_i, h_j>, so a distance costs
O(C + D). k-means++ needs a pass per centre; k-means|| (Bahmani et al., VLDB 2012) needs a few
rounds that each add about 2k rows drawn in proportion to D^2, then weighted k-means++ over those
candidates on the driver. The output must be real rows, so there is no Lloyd step.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from pyspark import RDD, Broadcast, StorageLevel
from pyspark.sql import DataFrame

from selection.engine.blocks import (
    Block,
    as_float,
    exclude_labeled,
    fetch_selected,
    iter_blocks,
    keyed_rows,
    prepare_features,
    raise_on_bad_rows,
)
from selection.engine.scores import ScoreSpec
from selection.names import Metric, Strategy, UncertaintyMode
from selection.params import EmbeddingParams, as_enum, at_least, param
from selection.strategies.result import Selected, Transform

Centres = tuple[np.ndarray, np.ndarray]  # (a, h) of each centre, row-aligned
Candidate = tuple[bool, float, Any, np.ndarray, np.ndarray]  # (weighted, key, id, a, h)
_CHUNK = 4096


@dataclass(frozen=True, kw_only=True)
class Badge(EmbeddingParams):
    """BADGE: k-means|| seeding over gradient embeddings, `batch_size` diverse uncertain rows."""

    strategy = Strategy.BADGE
    rounds: int = param(5, "k-means|| oversampling rounds")

    def __post_init__(self) -> None:
        super().__post_init__()
        at_least("rounds", self.rounds, 1)


_GOLDEN = 0x9E3779B97F4A7C15


def gradient_factors(p: np.ndarray) -> np.ndarray:
    """a = p - e_yhat, yhat = argmax p (the lowest class on a tie, like `pseudo_label`)."""
    a = p.copy()
    a[np.arange(len(p)), np.argmax(p, axis=1)] -= 1.0
    return a


def sq_dists(a: np.ndarray, h: np.ndarray, ca: np.ndarray, ch: np.ndarray) -> np.ndarray:
    """||g_i - g_c||^2 for rows i and centres c, from the factors only: an (m, k) matrix."""
    row = np.einsum("ij,ij->i", a, a) * np.einsum("ij,ij->i", h, h)
    cen = np.einsum("ij,ij->i", ca, ca) * np.einsum("ij,ij->i", ch, ch)
    d2: np.ndarray = row[:, None] + cen[None, :] - 2.0 * (a @ ca.T) * (h @ ch.T)
    # A row's distance to itself comes out as rounding noise, not 0; noise must not be sampled.
    d2[d2 <= 1e-12 * (row[:, None] + cen[None, :])] = 0.0
    return d2


def nearest(a: np.ndarray, h: np.ndarray, centres: Centres) -> tuple[np.ndarray, np.ndarray]:
    """(D^2 to the nearest centre, its index) for each row, in chunks of rows."""
    d2 = np.zeros(len(a))
    idx = np.zeros(len(a), dtype=np.int64)
    for s in range(0, len(a), _CHUNK):
        m = sq_dists(a[s : s + _CHUNK], h[s : s + _CHUNK], *centres)
        idx[s : s + _CHUNK] = np.argmin(m, axis=1)
        d2[s : s + _CHUNK] = m[np.arange(len(m)), idx[s : s + _CHUNK]]
    return d2, idx


def uniforms(keys: np.ndarray, stream: int) -> np.ndarray:
    """A seeded uniform in (0, 1) per row from its hash key (splitmix64), one stream per round."""
    z = keys.astype(np.uint64) + np.uint64((stream * _GOLDEN) % 2**64)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return ((z >> np.uint64(11)).astype(np.float64) + 0.5) / float(2**53)


def _to_gradient_blocks(rows: Iterable[Any], *, d: int, c: int, metric: str) -> Iterator[Block]:
    """Executor side: rows -> blocks holding h in `x` and a in `p`."""
    for block in iter_blocks(rows, d, c):
        block.x = prepare_features(block.x, metric)
        block.p = gradient_factors(block.p)
        yield block


def _top_norm(block: Block) -> tuple[int, str | None, float, Any, np.ndarray, np.ndarray]:
    """The block's largest ||g||^2 row (lowest id on a tie), with the block's bad-row count."""
    if not len(block):
        return block.bad_rows, block.bad_example, -1.0, None, block.p[:0], block.x[:0]
    norms = np.einsum("ij,ij->i", block.p, block.p) * np.einsum("ij,ij->i", block.x, block.x)
    ties = np.flatnonzero(norms == norms.max())
    j = min(ties, key=lambda i: block.ids[i])
    return block.bad_rows, block.bad_example, float(norms[j]), block.ids[j], block.p[j], block.x[j]


def _best(cands: list[Candidate], ell: int, exclude: set[Any]) -> list[Candidate]:
    """The ell largest (weighted, key) candidates whose id is not already a centre."""
    cands.sort(key=lambda t: (t[0], t[1]), reverse=True)
    return [t for t in cands if t[2] not in exclude][:ell]


def _sample_round(
    blocks: Iterable[Block], *, ell: int, stream: int, centres: Broadcast[Any]
) -> Iterator[tuple[float, list[Candidate]]]:
    """Executor side: the partition's cost and its ell best rows for D^2-weighted sampling.

    Weighted sampling without replacement (Efraimidis-Spirakis): key = ln(u) / D^2, keep the
    largest. The global top ell is the top ell of the per-partition tops, so one pass per round
    draws exactly ell rows. Rows with D^2 = 0 rank last, so they only fill a shortfall.
    """
    ca, ch, exclude = centres.value
    cost, kept = 0.0, []
    for block in blocks:
        if not len(block):
            continue
        d2, _ = nearest(block.p, block.x, (ca, ch))
        cost += float(d2.sum())
        u = uniforms(block.keys, stream)
        weighted = d2 > 0
        key = np.where(weighted, np.log(u) / np.where(weighted, d2, 1.0), u)
        order = np.lexsort((key, weighted))[::-1][: ell + len(exclude)]
        # Copies: a row view would keep its whole block alive until the partition is done.
        kept += [
            (bool(weighted[i]), float(key[i]), block.ids[i], block.p[i].copy(), block.x[i].copy())
            for i in order
        ]
        kept = _best(kept, ell, exclude)
    yield cost, kept


def _assign(
    blocks: Iterable[Block], *, centres: Broadcast[Centres]
) -> Iterator[tuple[float, np.ndarray]]:
    """Executor side: the cost against `centres` and how many rows each centre is nearest to."""
    counts = np.zeros(len(centres.value[0]), dtype=np.int64)
    cost = 0.0
    for block in blocks:
        if len(block):
            d2, idx = nearest(block.p, block.x, centres.value)
            cost += float(d2.sum())
            counts += np.bincount(idx, minlength=len(counts))
    yield cost, counts


def weighted_kmeanspp(
    a: np.ndarray, h: np.ndarray, weights: np.ndarray, k: int, rng: np.random.Generator
) -> list[int]:
    """k-means++ over weighted candidates, starting from candidate 0; indices in pick order.

    When no candidate is left at a positive distance, the heaviest remaining ones fill the batch.
    """
    m = len(a)
    picks = [0] if m else []
    d2 = sq_dists(a, h, a[:1], h[:1])[:, 0] if m else np.zeros(0)
    taken = np.zeros(m, dtype=bool)
    taken[picks] = True
    while len(picks) < min(k, m):
        mass = np.where(taken, 0.0, weights * d2)
        total = float(mass.sum())
        if total > 0:
            j = int(np.searchsorted(np.cumsum(mass), rng.random() * total, side="right"))
            j = min(j, m - 1)
            if taken[j] or mass[j] <= 0:  # the draw landed on a float boundary
                j = int(np.argmax(mass))
        else:
            rest = np.flatnonzero(~taken)
            j = int(rest[np.argmax(weights[rest])])
        picks.append(j)
        taken[j] = True
        d2 = np.minimum(d2, sq_dists(a, h, a[j : j + 1], h[j : j + 1])[:, 0])
    return picks


def _oversample(
    blocks: RDD[Block], first: tuple[Any, np.ndarray, np.ndarray], rounds: int, ell: int
) -> tuple[list[Any], Centres, list[float]]:
    """k-means|| rounds from the first centre: candidate ids, their (a, h), each round's cost."""
    sc = blocks.context
    ids, ca, ch = [first[0]], [first[1]], [first[2]]
    costs: list[float] = []
    for r in range(rounds):
        state = sc.broadcast((np.array(ca), np.array(ch), set(ids)))
        task = partial(_sample_round, ell=ell, stream=r + 1, centres=state)
        parts = blocks.mapPartitions(task).collect()
        state.destroy()
        costs.append(sum(p[0] for p in parts))
        for _, _, ident, a, h in _best([t for p in parts for t in p[1]], ell, set(ids)):
            ids.append(ident)
            ca.append(a)
            ch.append(h)
    return ids, (np.array(ca), np.array(ch)), costs


def select_badge(
    df: DataFrame,
    batch_size: int,
    *,
    id_col: str,
    features: Sequence[str],
    metric: Metric | str = Metric.EUCLIDEAN,
    seed: int = 42,
    rounds: int = 5,
    mode: UncertaintyMode | str = UncertaintyMode.MARGIN,
    scores: ScoreSpec = ScoreSpec(),
    labeled: DataFrame | None = None,
) -> Selected:
    """BADGE's `batch_size` rows and the k-means figures; runs its Spark jobs when called.

    The (hash, id, a, h) blocks are cached after one scan of `df`; the rounds, the weights and
    the final cost read the cache; a last filtered scan fetches the chosen rows. Rows whose id is
    in `labeled` are never selected.
    """
    sc = df.sparkSession.sparkContext
    pool = exclude_labeled(df, labeled, id_col)
    probs = scores.probabilities(pool)
    d, c, ell = len(features), len(probs), 2 * batch_size
    prepared = keyed_rows(pool, id_col, features, seed, extra=probs).rdd
    task = partial(_to_gradient_blocks, d=d, c=c, metric=Metric(metric).value)
    figures: dict[str, Any] = {
        "algorithm": "k-means|| seeding (Bahmani et al.), then weighted k-means++ on the "
        "driver; no Lloyd step",
        "embedding": "g = (p - e_argmax p) outer h, never materialised: "
        "<g_i, g_j> = <a_i, a_j> <h_i, h_j>",
        "metric": Metric(metric).value,
        "feature_columns": list(features),
        "classes": c,
        "rounds": rounds,
        "oversampling": ell,
        "passes": rounds + 4,
        "pass_detail": "scan to cached blocks + first centre; one pass per round; candidate "
        "weights; cost of the selection; filtered scan for the chosen rows",
    }
    blocks = prepared.mapPartitions(task).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        tops = blocks.map(_top_norm).collect()
        bad = sum(t[0] for t in tops)
        examples = [t[1] for t in tops if t[1] is not None]
        raise_on_bad_rows(
            bad,
            min(examples) if examples else None,
            [*features, *scores.columns(pool)],
            "feature or score columns",
        )
        best = max((t[2] for t in tops), default=-1.0)
        firsts = [t for t in tops if t[3] is not None and t[2] == best]
        if not firsts:
            empty = fetch_selected(df, id_col, [], mode=mode, scores=scores)
            return Selected(empty, {**figures, "rows": 0, "candidates": 0, "kmeans_cost": 0.0})
        first = min(firsts, key=lambda t: t[3])
        ids, cand, costs = _oversample(blocks, (first[3], first[4], first[5]), rounds, ell)
        weight_state = sc.broadcast(cand)
        assigned = blocks.mapPartitions(partial(_assign, centres=weight_state)).collect()
        weight_state.destroy()
        weights = np.sum([w for _, w in assigned], axis=0).astype(np.float64)
        picks = weighted_kmeanspp(*cand, weights, batch_size, np.random.default_rng(seed))
        chosen = sc.broadcast((cand[0][picks], cand[1][picks]))
        final = blocks.mapPartitions(partial(_assign, centres=chosen)).collect()
        chosen.destroy()
    finally:
        blocks.unpersist()
    figures.update(
        {
            "rows": int(weights.sum()),
            "candidates": len(ids),
            "first_pick_norm": as_float(math.sqrt(max(best, 0.0))),
            "round_costs": [as_float(v) for v in costs],
            "candidates_cost": as_float(sum(v for v, _ in assigned)),
            "kmeans_cost": as_float(sum(v for v, _ in final)),
        }
    )
    out = fetch_selected(df, id_col, [ids[i] for i in picks], mode=mode, scores=scores)
    return Selected(rows=out, figures=figures)


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
    """Transform form of `select(df, Badge(...))`; runs Spark jobs when applied."""
    from selection.strategies import select

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
    return lambda df: select(df, params, labeled=labeled).rows
