"""Exact single-node algorithms in numpy: the quality references and the in-memory baseline.

- `farthest_first`: Gonzalez's greedy k-center, one pass over all n rows per pick (O(n k d)).
- `kmeanspp`: sequential k-means++ (D^2 sampling) on BADGE's gradient embedding
  g = (p - e_argmax p) (x) h, one pass per pick; like the job it never builds g:
  ||g_i - g_j||^2 = |a_i|^2 |h_i|^2 + |a_j|^2 |h_j|^2 - 2 <a_i, a_j> <h_i, h_j>.
- `covering_radius` and `kmeans_cost`: the figures any selection is judged by.

Written independently of `selection/` so they also check the job's own figures.
"""

from __future__ import annotations

import math

import numpy as np
from threadpoolctl import threadpool_limits

CHUNK = 8192


def nearest_sq(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Squared Euclidean distance of each row of x to its nearest centre (exact differences)."""
    out = np.empty(len(x))
    c_sq = np.einsum("ij,ij->i", centres, centres)
    for s in range(0, len(x), CHUNK):
        part = x[s : s + CHUNK]
        nearest = np.argmin(c_sq[None, :] - 2.0 * (part @ centres.T), axis=1)
        diff = part - centres[nearest]
        out[s : s + CHUNK] = np.einsum("ij,ij->i", diff, diff)
    return out


def covering_radius(x: np.ndarray, centres: np.ndarray) -> float:
    """max over rows of the distance to the nearest centre."""
    return math.sqrt(max(float(nearest_sq(x, centres).max()), 0.0)) if len(x) else 0.0


def farthest_first(x: np.ndarray, k: int, start: int) -> tuple[np.ndarray, float]:
    """Gonzalez's greedy from row `start`: k row indices in pick order and their covering radius.

    Distances to each new centre use |x|^2 - 2 x.c + |c|^2 (one matrix-vector product per
    pick); the returned radius is recomputed from exact differences.
    """
    n = len(x)
    x_sq = np.einsum("ij,ij->i", x, x)
    d2 = np.full(n, np.inf)
    picks = np.empty(min(k, n), dtype=np.int64)
    j = start
    with threadpool_limits(1):  # see `kmeanspp`
        for i in range(len(picks)):
            picks[i] = j
            np.minimum(d2, x_sq - 2.0 * (x @ x[j]) + x_sq[j], out=d2)
            d2[j] = -1.0
            j = int(np.argmax(d2))
    return picks, covering_radius(x, x[picks])


def gradient_factors(p: np.ndarray) -> np.ndarray:
    """a = p - e_yhat with yhat = argmax p (lowest class on a tie)."""
    a = p.copy()
    a[np.arange(len(p)), np.argmax(p, axis=1)] -= 1.0
    return a


def _sq_to_one(a: np.ndarray, h: np.ndarray, norms: np.ndarray, j: int) -> np.ndarray:
    d2 = norms + norms[j] - 2.0 * (a @ a[j]) * (h @ h[j])
    np.maximum(d2, 0.0, out=d2)
    d2[j] = 0.0
    return d2


def kmeanspp(a: np.ndarray, h: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Sequential k-means++ on g = a (x) h; BADGE's first pick (the largest |g|), then D^2 draws."""
    rng = np.random.default_rng(seed)
    norms = np.einsum("ij,ij->i", a, a) * np.einsum("ij,ij->i", h, h)
    n = len(a)
    picks = np.empty(min(k, n), dtype=np.int64)
    j = int(np.argmax(norms))
    d2 = np.full(n, np.inf)
    # One BLAS thread: the loop is matrix-vector products, memory-bound; two OpenBLAS threads
    # were several times slower than one whenever other processes kept the CPUs busy.
    with threadpool_limits(1):
        return _kmeanspp_loop(a, h, norms, picks, d2, j, rng)


def _kmeanspp_loop(
    a: np.ndarray,
    h: np.ndarray,
    norms: np.ndarray,
    picks: np.ndarray,
    d2: np.ndarray,
    j: int,
    rng: np.random.Generator,
) -> np.ndarray:
    n = len(a)
    for i in range(len(picks)):
        picks[i] = j
        np.minimum(d2, _sq_to_one(a, h, norms, j), out=d2)  # picked rows stay at 0
        total = float(d2.sum())
        if total <= 0:  # every row sits on a centre: fill with the first rows not picked
            rest = np.setdiff1d(np.arange(n), picks[: i + 1])[: len(picks) - i - 1]
            picks[i + 1 : i + 1 + len(rest)] = rest
            return picks[: i + 1 + len(rest)]
        cum = np.cumsum(d2)
        j = min(int(np.searchsorted(cum, rng.random() * cum[-1], side="right")), n - 1)
    return picks


def kmeans_cost(a: np.ndarray, h: np.ndarray, picks: np.ndarray) -> float:
    """sum over rows of the squared gradient-embedding distance to the nearest picked row."""
    ca, ch = a[picks], h[picks]
    row = np.einsum("ij,ij->i", a, a) * np.einsum("ij,ij->i", h, h)
    cen = np.einsum("ij,ij->i", ca, ca) * np.einsum("ij,ij->i", ch, ch)
    total = 0.0
    for s in range(0, len(a), CHUNK):
        d2 = row[s : s + CHUNK, None] + cen[None, :]
        d2 -= 2.0 * (a[s : s + CHUNK] @ ca.T) * (h[s : s + CHUNK] @ ch.T)
        total += float(np.maximum(d2.min(axis=1), 0.0).sum())
    return total


def random_cost(a: np.ndarray, h: np.ndarray, k: int, seed: int) -> float:
    """k-means cost of k rows drawn uniformly at random (what no seeding at all gives)."""
    picks = np.random.default_rng(seed).choice(len(a), size=min(k, len(a)), replace=False)
    return kmeans_cost(a, h, picks)
