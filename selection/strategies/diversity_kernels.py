"""diversity's numpy side: farthest-first with an exact radius, and what each partition runs.

Gonzalez's farthest-first picks, one after another, the row farthest from the picks so far; a
pick costs one float32 matrix-vector product over the group's rows, and the radius the picks
leave is measured exactly (float64) on the rows that could hold it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pyspark import Broadcast

from selection.engine.blocks import Block, cache_items, concat, split_groups
from selection.engine.distances import (
    Centres32,
    error_bound,
    max_nearest_sq_dist,
    nearest_sq_dist,
    prepare_features,
    shifted32,
)


@dataclass(frozen=True)
class Greedy:
    """One farthest-first run: the picks in order, the row it would pick next, the radius left.

    `following` is None when every row was picked. `radius` is exact (float64): the largest
    distance from a row to its nearest pick or existing centre.
    """

    picks: list[int]
    following: int | None
    radius: float


def greedy(x: np.ndarray, k: int, *, init_sq: np.ndarray | None = None, start: int = 0) -> Greedy:
    """Gonzalez's farthest-first over the rows of x (float64), up to k picks.

    `init_sq`: exact squared distances to centres that exist already (labeled rows); the first
    pick is then the row farthest from them instead of `start`. Each pick costs one float32
    matrix-vector product over [x - mean, |x - mean|^2, 1], which yields |x - c|^2 directly.
    """
    n, d = x.shape
    if n == 0:
        return Greedy([], None, 0.0)
    if k <= 0:
        first = start if init_sq is None else int(np.argmax(init_sq))
        return Greedy([], first, _exact_radius(x, [], init_sq, None))
    shifted, sq = shifted32(x, x.mean(axis=0))
    # Column-major operand: one pass over 4 * (d + 2) contiguous bytes per row per pick.
    operand = np.empty((d + 2, n), dtype=np.float32)
    operand[:d] = shifted.T
    operand[d] = sq
    operand[d + 1] = 1.0
    d2 = np.full(n, np.inf, np.float32) if init_sq is None else init_sq.astype(np.float32)
    vector = np.empty(d + 2, dtype=np.float32)
    dist = np.empty(n, dtype=np.float32)
    picked = np.zeros(n, dtype=bool)
    picks: list[int] = []
    j = start if init_sq is None else int(np.argmax(d2))
    for _ in range(min(k, n)):
        picks.append(j)
        picked[j] = True
        vector[:d] = operand[:d, j] * np.float32(-2.0)
        vector[d] = 1.0
        vector[d + 1] = operand[d, j]
        np.dot(vector, operand, out=dist)
        np.minimum(d2, dist, out=d2)
        # Below every distance, rounding noise around 0 included: never picked again.
        d2[j] = -np.inf
        j = int(np.argmax(d2))
    following = None if len(picks) == n else j
    return Greedy(picks, following, _exact_radius(x, picks, init_sq, (d2, picked, sq)))


def _exact_radius(
    x: np.ndarray,
    picks: list[int],
    init_sq: np.ndarray | None,
    approx: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
) -> float:
    """max over unpicked rows of the distance to picks and existing centres, in float64.

    Only rows whose float32 distance is within twice its error bound of the float32 maximum
    can hold the maximum; they are measured again.
    """
    if approx is None:
        rest = np.arange(len(x))
    else:
        d2, picked, sq = approx
        if picked.all():
            return 0.0
        tol = error_bound(x.shape[1], float(sq.max()), float(sq.max()))
        if init_sq is not None:  # rounding the given distances to float32
            finite = init_sq[np.isfinite(init_sq)]
            tol += 2.0 * float(np.abs(finite).max(initial=0.0)) * float(np.finfo(np.float32).eps)
        top = float(d2[~picked].max())
        rest = np.flatnonzero(~picked & (d2 >= top - 2.0 * tol))
    if len(rest) == 0:
        return 0.0
    exact = np.full(len(rest), np.inf) if init_sq is None else init_sq[rest].astype(np.float64)
    if picks:
        exact = np.minimum(exact, nearest_sq_dist(x[rest], x[picks]))
    worst = float(exact.max())
    return math.sqrt(max(worst, 0.0)) if np.isfinite(worst) else math.inf


def farthest_first(
    x: np.ndarray, k: int, *, init_sq: np.ndarray | None = None, start: int = 0
) -> tuple[list[int], float]:
    """Gonzalez's greedy: up to k row indices in pick order, and the radius they leave."""
    run = greedy(x, k, init_sq=init_sq, start=start)
    return run.picks, run.radius


@dataclass(frozen=True)
class LocalCoreset:
    """One group's candidates for the driver round: its picks' rows and the radius they leave."""

    ids: np.ndarray
    keys: np.ndarray
    x: np.ndarray
    radius: float
    rows: int


@dataclass(frozen=True)
class PartitionCoresets:
    """A partition's summary, the first item of its cached output: its groups' core-sets."""

    coresets: list[LocalCoreset]
    bad_rows: int
    bad_example: str | None


def coreset_partition(
    partition: Iterable[Block],
    *,
    tau: int,
    metric: str,
    centres: Broadcast[np.ndarray] | None,
    keep_rows: bool,
    groups_each: int,
) -> Iterator[PartitionCoresets | Block]:
    """Farthest-first to tau rows in each group of the partition (`groups_each` at least).

    Yields the partition's summary, then (keep_rows) its prepared rows for the cache.
    """
    for block in partition:
        x = prepare_features(block.x, metric)
        groups = split_groups(Block(block.ids, block.keys, x, block.p), at_least=groups_each)
        existing = centres.value if centres is not None else np.empty((0, x.shape[1]))
        coresets = []
        for group in groups:
            init = nearest_sq_dist(group.x, existing) if len(existing) else None
            # Rows are sorted by their seeded hash, so row 0 is a seeded random start.
            run = greedy(group.x, tau, init_sq=init, start=0)
            chosen = np.array(run.picks, dtype=np.int64)
            coresets.append(
                LocalCoreset(
                    group.ids[chosen], group.keys[chosen], group.x[chosen], run.radius, len(group)
                )
            )
        yield PartitionCoresets(coresets, block.bad_rows, block.bad_example)
        if keep_rows:
            for group in groups:
                yield from cache_items(group, 8 * group.x.shape[1] + 16)


def max_radius(items: Iterable[Any], *, centres: Broadcast[np.ndarray]) -> Iterator[float]:
    """The largest distance from a cached row of the partition to a centre."""
    worst = 0.0
    prepared = Centres32.of(centres.value)
    for item in items:
        if isinstance(item, Block) and len(item):
            worst = max(worst, max_nearest_sq_dist(item.x, prepared))
    yield math.sqrt(worst)


@dataclass(frozen=True)
class Candidates:
    """Every group's core-set on the driver, in partition and group order."""

    rows: Block
    max_local_radius: float
    input_rows: int
    groups: int
    bad_rows: int
    bad_example: str | None


def gather(summaries: Sequence[Any], d: int) -> Candidates:
    """The `PartitionCoresets` of every partition, in partition order, as one candidate set."""
    cores = [c for s in summaries for c in s.coresets]
    blocks = [Block(c.ids, c.keys, c.x, np.empty((len(c.keys), 0))) for c in cores]
    examples = [s.bad_example for s in summaries if s.bad_example is not None]
    return Candidates(
        concat(blocks, d),
        max((c.radius for c in cores), default=0.0),
        sum(c.rows for c in cores),
        len(cores),
        sum(s.bad_rows for s in summaries),
        min(examples) if examples else None,
    )


def min_pairwise_sq(x: np.ndarray) -> float:
    """The smallest squared distance between two rows of x, in float64."""
    best = math.inf
    step = max(1, 2**21 // max(1, len(x) * x.shape[1]))
    for s in range(0, len(x), step):
        diff = x[s : s + step, None, :] - x[None, :, :]
        d2 = np.einsum("ijk,ijk->ij", diff, diff)
        d2[np.arange(len(d2)), np.arange(s, s + len(d2))] = np.inf
        best = min(best, float(d2.min(initial=math.inf)))
    return best
