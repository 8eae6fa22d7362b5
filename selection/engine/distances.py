"""Distance kernels of the embedding strategies: float32 tiles, float64 figures.

Distances run in float32, as matrix products on precomputed norms in tiles that stay in a
core's cache. Reported figures are float64: the rows whose float32 value is within its rounding
bound (`error_bound`) of deciding a figure are measured again exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from selection.names import Metric

TILE = 1 << 18  # float32 entries of one distance tile: 1 MB, half of one core's L2 here
EPS32 = float(np.finfo(np.float32).eps)


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to norm 1 (cosine metric); all-zero rows stay zero."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    scaled: np.ndarray = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    return scaled


def prepare_features(x: np.ndarray, metric: Metric | str) -> np.ndarray:
    return unit_rows(x) if Metric(metric) is Metric.COSINE else x


def error_bound(d: int, sq_rows: Any, sq_centres: float) -> Any:
    """Bound on the float32 error of |x - c|^2 = |x|^2 - 2 x.c + |c|^2 for |x|^2 <= sq_rows and
    |c|^2 <= sq_centres (after the shift both kernels apply).

    Rounding the inputs to float32, the norms and the (d + 2)-term dot product each lose a few
    units of 2^-24 of |x|^2 + |c|^2, about (3d + 8) units in all; this is twice that.
    """
    return 4.0 * (d + 4) * EPS32 * (sq_rows + sq_centres)


def shifted32(x: np.ndarray, shift: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x - shift in float32 and its squared norms (float64): the operands of the fast kernels.

    Shifting to the data's middle keeps the expanded form accurate for data far from 0.
    """
    s = x - shift
    return s.astype(np.float32), np.einsum("ij,ij->i", s, s)


def tile_rows(centres: int) -> int:
    """Rows per (rows x centres) float32 distance tile, so a tile stays in one core's cache."""
    return max(16, TILE // max(1, centres))


@dataclass(frozen=True)
class Centres32:
    """Centres prepared once for the float32 kernels: shifted to their mean, as a (d, k)
    matrix times -2 and with their squared norms; the float64 originals for exact distances."""

    exact: np.ndarray  # (k, d) float64
    shift: np.ndarray  # (d,) float64
    minus2: np.ndarray  # (d, k) float32
    sq: np.ndarray  # (k,) float32
    max_sq: float

    @staticmethod
    def of(centres: np.ndarray) -> Centres32:
        shift = centres.mean(axis=0) if len(centres) else np.zeros(centres.shape[1])
        c32, sq = shifted32(centres, shift)
        minus2 = np.ascontiguousarray((c32 * np.float32(-2.0)).T)
        return Centres32(centres, shift, minus2, sq.astype(np.float32), float(sq.max(initial=0)))

    def __len__(self) -> int:
        return len(self.exact)


def _tiles(
    x: np.ndarray, centres: Centres32, step: int | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, tile): float32 |c - shift|^2 - 2 (x - shift).c for consecutive rows of x,
    the squared distances to every centre but for |x - shift|^2. The tile buffer is reused."""
    k = len(centres)
    step = min(step or tile_rows(k), max(1, len(x)))
    x32 = (x - centres.shift).astype(np.float32)
    buffer = np.empty((step, k), dtype=np.float32)
    for s in range(0, len(x), step):
        n = min(step, len(x) - s)
        tile = buffer[:n]
        np.matmul(x32[s : s + n], centres.minus2, out=tile)
        tile += centres.sq
        yield s, tile


def nearest_sq_dist(
    x: np.ndarray, centres: np.ndarray | Centres32, chunk: int | None = None
) -> np.ndarray:
    """Squared Euclidean distance from each row of x to its nearest centre, in float64.

    The nearest centre is found with float32 matrix products; the distance to it is recomputed
    from the float64 difference. Rows whose two nearest centres float32 cannot tell apart are
    measured against every centre in float64.
    """
    out = np.full(len(x), np.inf)
    if len(centres) == 0 or len(x) == 0:
        return out
    prepared = centres if isinstance(centres, Centres32) else Centres32.of(centres)
    exact = prepared.exact
    sq = np.einsum("ij,ij->i", x - prepared.shift, x - prepared.shift)
    tol = 2.0 * error_bound(x.shape[1], sq, prepared.max_sq)
    for s, tile in _tiles(x, prepared, chunk):
        n = len(tile)
        near = np.argmin(tile, axis=1)
        diff = x[s : s + n] - exact[near]
        out[s : s + n] = np.einsum("ij,ij->i", diff, diff)
        if len(exact) > 1:
            rows = np.arange(n)
            first = tile[rows, near]
            tile[rows, near] = np.inf
            unsure = np.flatnonzero(tile.min(axis=1) - first <= tol[s : s + n])
            if len(unsure):
                out[s + unsure] = _nearest_sq_dist64(x[s + unsure], exact)
    return out


def _nearest_sq_dist64(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """`nearest_sq_dist` all in float64: for the rows float32 cannot decide."""
    out = np.empty(len(x))
    shift = centres.mean(axis=0)
    shifted = centres - shift
    c_sq = np.einsum("ij,ij->i", shifted, shifted)
    step = max(1, TILE // len(centres))
    for start in range(0, len(x), step):
        part = x[start : start + step]
        approx = c_sq[None, :] - 2.0 * ((part - shift) @ shifted.T)
        diff = part - centres[np.argmin(approx, axis=1)]
        out[start : start + step] = np.einsum("ij,ij->i", diff, diff)
    return out


def max_nearest_sq_dist(x: np.ndarray, centres: np.ndarray | Centres32) -> float:
    """max over rows of x of the squared distance to the nearest centre, exact in float64.

    float32 tiles give every row's distance within `error_bound`; only the rows that could
    hold the maximum are measured again in float64.
    """
    if len(x) == 0:
        return 0.0
    if len(centres) == 0:
        return math.inf
    prepared = centres if isinstance(centres, Centres32) else Centres32.of(centres)
    approx = np.empty(len(x))
    for s, tile in _tiles(x, prepared):
        approx[s : s + len(tile)] = tile.min(axis=1)
    sq = np.einsum("ij,ij->i", x - prepared.shift, x - prepared.shift)
    approx += sq
    tol = error_bound(x.shape[1], float(sq.max()), prepared.max_sq)
    contenders = np.flatnonzero(approx >= approx.max() - 2.0 * tol)
    return float(nearest_sq_dist(x[contenders], prepared).max())
