"""BADGE's executor side: what each pass over the cached rows runs in a partition.

The rows are cached once as `GradientRows`; a k-means|| round reads them with the `Coverage` the
previous round left (zipped item for item) and yields its summary, then the new coverage.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from pyspark import Broadcast

from selection.engine.blocks import Block, cache_items
from selection.engine.distances import prepare_features
from selection.strategies.badge_kernels import (
    CentreOperands,
    Centres,
    Coverage,
    Draws,
    GradientRows,
    best_draws,
    exact_cost,
    gradient_factors,
    update_nearest,
)


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


def gradient_rows(partition: Iterable[Block], *, metric: str) -> Iterator[Any]:
    """A partition's rows -> its summary (`TopNorm`), then its rows as (a, h) for the cache."""
    for block in partition:
        items = [
            GradientRows(g.ids, g.keys, gradient_factors(g.p), prepare_features(g.x, metric))
            for g in cache_items(block, 8 * (block.x.shape[1] + block.p.shape[1]) + 16)
        ]
        yield top_norm(items, block)
        yield from items


def top_norm(items: Sequence[GradientRows], block: Block) -> TopNorm:
    """The row of largest ||g||^2 among `items` (lowest id on a tie), with `block`'s counts."""
    best = TopNorm(-1.0, None, np.zeros(0, np.uint64), block.p[:0], block.x[:0], 0, 0, None)
    for g in items:
        norms = np.einsum("ij,ij->i", g.a, g.a) * np.einsum("ij,ij->i", g.h, g.h)
        ties = np.flatnonzero(norms == norms.max())
        j = min(ties.tolist(), key=lambda i: g.ids[i])
        ident = g.ids[j : j + 1].tolist()[0]
        if norms[j] > best.norm or (norms[j] == best.norm and ident < best.id):
            best = TopNorm(float(norms[j]), ident, g.keys[j : j + 1], g.a[j], g.h[j], 0, 0, None)
    return replace(best, rows=len(block), bad_rows=block.bad_rows, bad_example=block.bad_example)


def with_coverage(items: Iterable[Any]) -> Iterator[tuple[GradientRows, Coverage]]:
    """Cached rows, alone (before the first round) or zipped with their coverage."""
    for item in items:
        if isinstance(item, tuple):
            yield item[0], item[1]
        elif isinstance(item, GradientRows):
            yield item, Coverage.empty(len(item))


def kmeans_round(items: Iterable[Any], *, spec: Broadcast[RoundInput]) -> Iterator[Any]:
    """One k-means|| round over a cached partition.

    Yields the partition's summary (cost and best draws), then one updated `Coverage` per
    cached item of rows: the next round's input, zipped with the rows again.
    """
    task = spec.value
    operands = CentreOperands.of(task.centres)
    covers, best, cost = [], _no_draws(task.centres), 0.0
    for rows, cover in with_coverage(items):
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


def weigh(
    items: Iterable[Any], *, centres: Broadcast[Centres], count: int
) -> Iterator[tuple[float, np.ndarray]]:
    """The last round's draws measured too, then how many rows each candidate is nearest to
    and the cost against all candidates."""
    counts = np.zeros(count, dtype=np.int64)
    cost = 0.0
    operands = CentreOperands.of(centres.value)
    for rows, cover in with_coverage(items):
        if len(rows):
            cover = update_nearest(rows, cover, operands)
            cost += float(cover.d2.sum(dtype=np.float64))
            counts += np.bincount(cover.nearest, minlength=count)
    yield cost, counts


def selection_cost(items: Iterable[Any], *, chosen: Broadcast[Centres]) -> Iterator[float]:
    """The k-means cost of the selection over the partition's cached rows, in float64."""
    operands = CentreOperands.of(chosen.value)
    total = 0.0
    for item in items:
        if isinstance(item, GradientRows):
            total = exact_cost(item, chosen.value, operands, start=total)
    yield total
