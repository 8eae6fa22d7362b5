"""BADGE's numpy kernels: factorised gradient distances, D^2 sampling keys, carried coverage,
weighted k-means++ on the driver and the exact k-means cost.

g = a (x) h with a = p - e_argmax(p) and h the features is never built:
<g_i, g_j> = <a_i, a_j> <h_i, h_j>, so a distance costs O(C + D). Distances to many centres run
as float32 matrix products over the factors in cache-sized tiles; figures are float64.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from selection.engine.distances import EPS32, TILE, tile_rows

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


def exact_cost(
    rows: GradientRows, chosen: Centres, operands: CentreOperands, start: float = 0.0
) -> float:
    """The k-means cost of `rows` against the `chosen` rows, in float64.

    float32 tiles find each row's nearest chosen row; the distance to it is computed in
    float64, and rows whose two nearest chosen rows float32 cannot tell apart are measured
    against every chosen row in float64. `operands` is `CentreOperands.of(chosen)`. Each
    tile's sum is added to `start` in turn: one running sum over a partition's items.
    """
    if len(rows) == 0:
        return start
    ca, ch, k = chosen.a, chosen.h, len(chosen.a)
    cn = np.einsum("ij,ij->i", ca, ca) * np.einsum("ij,ij->i", ch, ch)
    a, h = rows.a, rows.h
    a32, h32 = a.astype(np.float32), h.astype(np.float32)
    rn = np.einsum("ij,ij->i", a, a) * np.einsum("ij,ij->i", h, h)
    tol = 2.0 * _tolerance(a.shape[1], h.shape[1]) * (rn + float(cn.max()))
    step = min(tile_rows(k), len(rows))
    tile, other = np.empty((step, k), np.float32), np.empty((step, k), np.float32)
    total = start
    for s in range(0, len(rows), step):
        n = min(step, len(rows) - s)
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
            index = np.arange(n)
            first = tile[index, near]
            tile[index, near] = np.inf
            unsure = s + np.flatnonzero(tile[:n].min(axis=1) - first <= tol[s : s + n])
            for u in range(0, len(unsure), max(1, TILE // k)):
                part = unsure[u : u + max(1, TILE // k)]
                exact[part - s] = sq_dists(a[part], h[part], ca, ch).min(axis=1)
        total += float(exact.sum())
    return total
