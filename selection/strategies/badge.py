"""BADGE (Ash et al., ICLR 2020): k-means++ seeding on gradient embeddings, at cluster scale.

The model-agnostic embedding of a row is g = a (x) h with a = p - e_argmax(p) and h its features.
g has C * D entries and is never built: <g_i, g_j> = <a_i, a_j> <h_i, h_j>, so a distance costs
O(C + D). k-means++ needs a pass per centre; k-means|| (Bahmani et al., VLDB 2012) needs a few
rounds that each add about k rows drawn in proportion to D^2, then weighted k-means++ over those
candidates on the driver. Each row carries its D^2 and nearest candidate from round to round, so
a round measures only the centres the previous one drew. The output must be real rows, so there
is no Lloyd step.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import numpy as np
from pyspark import RDD, Broadcast
from pyspark.sql import DataFrame

from selection.engine.blocks import (
    EPS32,
    TILE,
    Block,
    as_float,
    cache_items,
    cache_with_summaries,
    exclude_labeled,
    fetch_selected,
    hashed_blocks,
    keyed_rows,
    partition_count,
    prepare_features,
    raise_on_bad_rows,
    tile_rows,
)
from selection.engine.scores import ScoreSpec
from selection.names import Metric, Strategy, UncertaintyMode
from selection.params import EmbeddingParams, as_enum, at_least, param
from selection.strategies.result import Selected, Transform


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


def uniforms(keys: np.ndarray, stream: int) -> np.ndarray:
    """A seeded uniform in (0, 1) per row from its hash key (splitmix64), one stream per round."""
    z = keys.astype(np.uint64) + np.uint64((stream * _GOLDEN) % 2**64)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return ((z >> np.uint64(11)).astype(np.float64) + 0.5) / float(2**53)


def _tolerance(c: int, d: int) -> float:
    """Bound on the float32 error of ||g_i - g_c||^2 over ||g_i||^2 + ||g_c||^2.

    Rounding a and h, the C- and D-term dot products, the norms and their products each lose a
    few units of 2^-24; about 2 (C + D) + 14 units in all, and this is twice that.
    """
    return 2.0 * (c + d + 8) * EPS32


@dataclass(frozen=True)
class GradientRows:
    """Rows as BADGE sees them: the factors a and h of g = a (x) h, in float64. Cached once;
    what changes from round to round is their `Coverage`."""

    ids: np.ndarray
    keys: np.ndarray  # uint64 seeded hashes of the ids
    a: np.ndarray  # (m, C) p - e_argmax(p)
    h: np.ndarray  # (m, D) features, unit rows for METRIC=cosine

    def __len__(self) -> int:
        return len(self.keys)


@dataclass(frozen=True)
class Coverage:
    """What k-means|| carries for the rows of one `GradientRows` item between rounds: each
    row's squared distance to its nearest candidate so far (float32) and that candidate's index
    in the driver's candidate list. 8 bytes a row: a round rewrites these, not the rows."""

    d2: np.ndarray
    nearest: np.ndarray

    @staticmethod
    def empty(rows: int) -> Coverage:
        """Before the first centre: at infinite distance from nothing."""
        return Coverage(np.full(rows, np.inf, np.float32), np.full(rows, -1, np.int32))


@dataclass(frozen=True)
class TopNorm:
    """A partition's summary: its row of largest ||g||^2 (lowest id on a tie), its row count
    and its bad rows. `id` is None when the partition has no row."""

    norm: float
    id: Any
    key: np.ndarray  # its hash, a 1-element uint64 array
    a: np.ndarray
    h: np.ndarray
    rows: int
    bad_rows: int
    bad_example: str | None


@dataclass(frozen=True)
class Draws:
    """Rows drawn by D^2-weighted sampling, best first: rows at D^2 > 0 (`weighted`) by their
    key ln(u) / D^2, then rows at D^2 = 0 by u; hash then breaks ties."""

    weighted: np.ndarray  # bool
    score: np.ndarray  # float64
    keys: np.ndarray  # uint64
    ids: np.ndarray
    a: np.ndarray
    h: np.ndarray

    def __len__(self) -> int:
        return len(self.keys)

    @staticmethod
    def best(draws: Sequence[Draws], ell: int) -> Draws:
        """The `ell` best of all `draws`: the global top of the per-partition tops."""
        merged = Draws(*(np.concatenate([getattr(x, f) for x in draws]) for f in _DRAW_FIELDS))
        order = np.lexsort((merged.keys, -merged.score, ~merged.weighted))[:ell]
        return Draws(*(getattr(merged, f)[order] for f in _DRAW_FIELDS))


_DRAW_FIELDS = ("weighted", "score", "keys", "ids", "a", "h")


@dataclass(frozen=True)
class Centres:
    """Candidates a pass measures: their factors, and the index of the first one in the
    driver's candidate list."""

    a: np.ndarray
    h: np.ndarray
    offset: int


@dataclass(frozen=True)
class RoundInput:
    """What one k-means|| round needs on the executors."""

    centres: Centres  # drawn by the previous round (the first centre for round 1)
    excluded: np.ndarray  # sorted hash keys of every candidate so far: never drawn again
    stream: int
    ell: int


@dataclass(frozen=True)
class RoundSummary:
    """A partition's summary of one round: its cost before drawing, and its best draws."""

    cost: float
    draws: Draws


@dataclass(frozen=True)
class CentreOperands:
    """Centres in the form the float32 kernel takes: -2a and h as (factors, centres) matrices
    and |g|^2; prepared once per task."""

    a: np.ndarray
    h: np.ndarray
    norms: np.ndarray
    offset: int

    @staticmethod
    def of(centres: Centres) -> CentreOperands:
        a, h = centres.a, centres.h
        norms = np.einsum("ij,ij->i", a, a) * np.einsum("ij,ij->i", h, h)
        return CentreOperands(
            np.ascontiguousarray((a * -2.0).T, dtype=np.float32),
            np.ascontiguousarray(h.T, dtype=np.float32),
            norms.astype(np.float32),
            centres.offset,
        )


def update_nearest(rows: GradientRows, cover: Coverage, centres: CentreOperands) -> Coverage:
    """`cover` updated for `centres`: each row's D^2 and nearest candidate (float32)."""
    k = centres.a.shape[1]
    if len(rows) == 0 or k == 0:
        return cover
    a32, h32 = rows.a.astype(np.float32), rows.h.astype(np.float32)
    rn = np.einsum("ij,ij->i", a32, a32) * np.einsum("ij,ij->i", h32, h32)
    tol = np.float32(_tolerance(a32.shape[1], h32.shape[1]))
    d2, nearest = cover.d2.copy(), cover.nearest.copy()
    step = min(tile_rows(k), len(rows))
    # Tiles reused across the loop: fresh 1 MB arrays would be fresh pages every time.
    tile, other = np.empty((step, k), np.float32), np.empty((step, k), np.float32)
    for s in range(0, len(rows), step):
        n = min(step, len(rows) - s)
        np.matmul(a32[s : s + n], centres.a, out=tile[:n])
        np.matmul(h32[s : s + n], centres.h, out=other[:n])
        np.multiply(tile[:n], other[:n], out=tile[:n])
        tile[:n] += centres.norms
        near = np.argmin(tile[:n], axis=1)
        row_n = rn[s : s + n]
        value = tile[np.arange(n), near] + row_n
        # A row's distance to itself comes out as rounding noise, not 0; noise must not be drawn.
        value[value <= tol * (row_n + centres.norms[near])] = 0.0
        better = value < d2[s : s + n]
        d2[s : s + n][better] = value[better]
        nearest[s : s + n][better] = near[better] + centres.offset
    return Coverage(d2, nearest)


def _in_sorted(values: np.ndarray, sorted_values: np.ndarray) -> np.ndarray:
    """np.isin for a sorted second array, without re-sorting it on every call."""
    if len(sorted_values) == 0:
        return np.zeros(len(values), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_values, values), len(sorted_values) - 1)
    return np.asarray(sorted_values[at] == values)


def best_draws(
    rows: GradientRows,
    cover: Coverage,
    *,
    ell: int,
    stream: int,
    excluded: np.ndarray,
    floor: float,
) -> Draws:
    """The rows that can be among the `ell` best for D^2-weighted sampling without
    replacement, given `floor`: the key of the ell-th best row at D^2 > 0 seen so far.

    Efraimidis-Spirakis: key = ln(u) / D^2, keep the largest. The global top ell is the top ell
    of the per-partition tops, so one pass per round draws exactly ell rows. Rows at D^2 = 0
    rank last, so they only fill a shortfall; candidates are never drawn again.
    """
    d2 = cover.d2.astype(np.float64)
    weighted = np.flatnonzero((d2 > 0) & np.isfinite(d2))
    if len(weighted) >= ell or floor > -math.inf:
        # Enough rows at D^2 > 0: the others cannot be drawn.
        score = np.log(uniforms(rows.keys[weighted], stream)) / d2[weighted]
        keep = score >= floor
        picks, score = weighted[keep], score[keep]
        fresh = ~_in_sorted(rows.keys[picks], excluded)
        picks, score = picks[fresh], score[fresh]
        order = np.lexsort((rows.keys[picks], -score))[:ell]
        picks, score, is_weighted = picks[order], score[order], np.ones(len(order), dtype=bool)
    else:
        u = uniforms(rows.keys, stream)
        is_weighted = (d2 > 0) & np.isfinite(d2)
        score = np.where(is_weighted, np.log(u) / np.where(is_weighted, d2, 1.0), u)
        allowed = np.flatnonzero(~_in_sorted(rows.keys, excluded))
        order = np.lexsort((rows.keys[allowed], -score[allowed], ~is_weighted[allowed]))
        picks = allowed[order][:ell]
        score, is_weighted = score[picks], is_weighted[picks]
    return Draws(
        is_weighted, score, rows.keys[picks], rows.ids[picks], rows.a[picks], rows.h[picks]
    )


def _gradient_rows(partition: Iterable[Block], *, metric: str) -> Iterator[Any]:
    """Executor side: a partition's rows -> its summary, then its rows as (a, h) for the cache."""
    for block in partition:
        items = [
            GradientRows(g.ids, g.keys, gradient_factors(g.p), prepare_features(g.x, metric))
            for g in cache_items(block, 8 * (block.x.shape[1] + block.p.shape[1]) + 16)
        ]
        yield _top_norm(items, block)
        yield from items


def _top_norm(items: Sequence[GradientRows], block: Block) -> TopNorm:
    best = TopNorm(-1.0, None, np.zeros(0, np.uint64), block.p[:0], block.x[:0], 0, 0, None)
    for g in items:
        norms = np.einsum("ij,ij->i", g.a, g.a) * np.einsum("ij,ij->i", g.h, g.h)
        ties = np.flatnonzero(norms == norms.max())
        j = min(ties.tolist(), key=lambda i: g.ids[i])
        ident = g.ids[j : j + 1].tolist()[0]
        if norms[j] > best.norm or (norms[j] == best.norm and ident < best.id):
            best = TopNorm(float(norms[j]), ident, g.keys[j : j + 1], g.a[j], g.h[j], 0, 0, None)
    return replace(best, rows=len(block), bad_rows=block.bad_rows, bad_example=block.bad_example)


def _with_coverage(items: Iterable[Any]) -> Iterator[tuple[GradientRows, Coverage]]:
    """Cached rows, alone (before the first round) or zipped with their coverage."""
    for item in items:
        if isinstance(item, tuple):
            yield item[0], item[1]
        elif isinstance(item, GradientRows):
            yield item, Coverage.empty(len(item))


def _round(items: Iterable[Any], *, spec: Broadcast[RoundInput]) -> Iterator[Any]:
    """Executor side: one k-means|| round over a cached partition.

    Yields the partition's summary (cost and best draws), then one updated `Coverage` per
    cached item of rows: the next round's input, zipped with the rows again.
    """
    task = spec.value
    operands = CentreOperands.of(task.centres)
    covers, best, cost = [], _no_draws(task.centres), 0.0
    for rows, cover in _with_coverage(items):
        cover = update_nearest(rows, cover, operands)
        cost += float(cover.d2.sum(dtype=np.float64))
        full = len(best) == task.ell and bool(best.weighted[-1])
        floor = float(best.score[-1]) if full else -math.inf
        drawn = best_draws(
            rows, cover, ell=task.ell, stream=task.stream, excluded=task.excluded, floor=floor
        )
        best = Draws.best([best, drawn], task.ell)
        covers.append(cover)
    yield RoundSummary(cost, best)
    yield from covers


def _no_draws(centres: Centres) -> Draws:
    a, h = centres.a[:0], centres.h[:0]
    none = np.zeros(0, np.int64)
    return Draws(np.zeros(0, bool), np.zeros(0), none.view(np.uint64), none, a, h)


def _weigh(
    items: Iterable[Any], *, centres: Broadcast[Centres], count: int
) -> Iterator[tuple[float, np.ndarray]]:
    """Executor side: the last round's draws measured too, then how many rows each candidate is
    nearest to and the cost against all candidates."""
    counts = np.zeros(count, dtype=np.int64)
    cost = 0.0
    operands = CentreOperands.of(centres.value)
    for rows, cover in _with_coverage(items):
        if len(rows):
            cover = update_nearest(rows, cover, operands)
            cost += float(cover.d2.sum(dtype=np.float64))
            counts += np.bincount(cover.nearest, minlength=count)
    yield cost, counts


def _exact_cost(
    items: Iterable[Any], *, chosen: Broadcast[tuple[np.ndarray, np.ndarray]]
) -> Iterator[float]:
    """Executor side: the k-means cost of the selection over the partition's rows, in float64.

    float32 tiles find each row's nearest chosen row; the distance to it is computed in
    float64, and rows whose two nearest chosen rows float32 cannot tell apart are measured
    against every chosen row in float64.
    """
    ca, ch = chosen.value
    cn = np.einsum("ij,ij->i", ca, ca) * np.einsum("ij,ij->i", ch, ch)
    operands = CentreOperands.of(Centres(ca, ch, 0))
    k = len(ca)
    total = 0.0
    for item in items:
        if not isinstance(item, GradientRows) or len(item) == 0:
            continue
        a, h = item.a, item.h
        a32, h32 = a.astype(np.float32), h.astype(np.float32)
        rn = np.einsum("ij,ij->i", a, a) * np.einsum("ij,ij->i", h, h)
        tol = 2.0 * _tolerance(a.shape[1], h.shape[1]) * (rn + float(cn.max()))
        step = min(tile_rows(k), len(item))
        tile, other = np.empty((step, k), np.float32), np.empty((step, k), np.float32)
        for s in range(0, len(item), step):
            n = min(step, len(item) - s)
            np.matmul(a32[s : s + n], operands.a, out=tile[:n])
            np.matmul(h32[s : s + n], operands.h, out=other[:n])
            np.multiply(tile[:n], other[:n], out=tile[:n])
            tile[:n] += operands.norms
            near = np.argmin(tile[:n], axis=1)
            inner = np.einsum("ij,ij->i", a[s : s + n], ca[near])
            inner *= np.einsum("ij,ij->i", h[s : s + n], ch[near])
            exact = rn[s : s + n] + cn[near] - 2.0 * inner
            exact[exact <= 1e-12 * (rn[s : s + n] + cn[near])] = 0.0  # as `sq_dists` does
            if k > 1:
                rows = np.arange(n)
                first = tile[rows, near]
                tile[rows, near] = np.inf
                unsure = s + np.flatnonzero(tile[:n].min(axis=1) - first <= tol[s : s + n])
                for u in range(0, len(unsure), max(1, TILE // k)):
                    part = unsure[u : u + max(1, TILE // k)]
                    exact[part - s] = sq_dists(a[part], h[part], ca, ch).min(axis=1)
            total += float(exact.sum())
    yield total


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
        nxt, summaries = cache_with_summaries(source, partial(_round, spec=spec))
        keep.append(nxt)
        if cover is not None:
            cover.unpersist()
        cover = nxt
        costs.append(sum(s.cost for s in summaries))
        pending = cands.add(Draws.best([s.draws for s in summaries], ell))
    return cover, cands, pending, costs


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

    One scan carries (hash, id, features, scores) into Python as cached rows of (a, h); each
    round, the weights and the final cost read the cache; a last filtered scan fetches the
    chosen rows. Rows whose id is in `labeled` are never selected.
    """
    sc = df.sparkSession.sparkContext
    pool = exclude_labeled(df, labeled, id_col)
    probs = scores.probabilities(pool)
    d, c, ell = len(features), len(probs), batch_size
    parts = partition_count(df)
    keyed = keyed_rows(pool, id_col, features, seed, extra=probs)
    blocks, transfer = hashed_blocks(keyed, d, parts, c)
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
        "partitions": parts,
        "transfer": transfer,
        "passes": rounds + 4,
        "pass_detail": "scan into cached (a, h) rows + first centre; one pass per round "
        "(only the previous round's draws are measured); candidate weights (the last round's "
        "draws); cost of the selection; filtered scan for the chosen rows",
    }
    keep: list[Any] = []  # broadcasts to destroy and coverage caches to drop
    cached, tops = cache_with_summaries(
        blocks, partial(_gradient_rows, metric=Metric(metric).value)
    )
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
            return Selected(empty, {**figures, "rows": 0, "candidates": 0, "kmeans_cost": 0.0})
        best = max(t.norm for t in found)
        first = min((t for t in found if t.norm == best), key=lambda t: t.id)
        cover, cands, pending, costs = _oversample(cached, first, rounds, ell, keep)
        covered = cached if cover is None else cached.zip(cover)
        weigh = sc.broadcast(pending)
        keep.append(weigh)
        count = len(cands.ids)
        assigned = covered.mapPartitions(partial(_weigh, centres=weigh, count=count)).collect()
        weights = np.sum([w for _, w in assigned], axis=0).astype(np.float64)
        cand_a, cand_h = cands.factors()
        picks = weighted_kmeanspp(cand_a, cand_h, weights, batch_size, np.random.default_rng(seed))
        chosen = sc.broadcast((cand_a[picks], cand_h[picks]))
        keep.append(chosen)
        cost = sum(cached.mapPartitions(partial(_exact_cost, chosen=chosen)).collect())
    finally:
        cached.unpersist()
        for value in keep:
            if isinstance(value, RDD):
                value.unpersist()
            else:
                value.destroy()
    figures.update(
        {
            "rows": int(weights.sum()),
            "candidates": count,
            "first_pick_norm": as_float(math.sqrt(max(best, 0.0))),
            "round_costs": [as_float(v) for v in costs],
            "candidates_cost": as_float(sum(v for v, _ in assigned)),
            "kmeans_cost": as_float(cost),
        }
    )
    out = fetch_selected(df, id_col, [cands.ids[i] for i in picks], mode=mode, scores=scores)
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
