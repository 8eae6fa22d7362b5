"""Farthest-first with an exact radius, and one partition's core-sets, in numpy alone."""

from __future__ import annotations

import numpy as np

from selection.engine.blocks import Block
from selection.strategies.diversity_kernels import (
    coreset_partition,
    farthest_first,
    gather,
    greedy,
    min_pairwise_sq,
)


def test_farthest_first_on_a_line() -> None:
    x = np.array([[0.0], [1.0], [2.0], [10.0]])
    assert farthest_first(x, 2, start=0) == ([0, 3], 2.0)
    assert farthest_first(x, 9, start=1) == ([1, 3, 0, 2], 0.0)
    # Existing centres: the first pick is the row farthest from them.
    picks, radius = farthest_first(x, 1, init_sq=np.array([100.0, 81.0, 64.0, 0.0]))
    assert (picks, radius) == ([0], 2.0)


def test_duplicates_are_picked_once_each() -> None:
    x = np.zeros((3, 2))
    assert farthest_first(x, 3, start=2) == ([2, 0, 1], 0.0)


def test_greedy_reports_the_next_pick_and_an_exact_radius() -> None:
    x = np.array([[0.0], [1.0], [2.0], [10.0], [4.0]])
    run = greedy(x, 2, start=0)
    assert (run.picks, run.following) == ([0, 3], 4)
    assert run.radius == 4.0
    # The picks and the next pick are pairwise at least the radius apart: OPT >= radius / 2.
    points = x[[*run.picks, run.following]]
    gaps = np.abs(points - points.T)[np.triu_indices(3, 1)]
    assert gaps.min() >= run.radius
    assert greedy(x, 9).following is None
    assert greedy(x, 9).radius == 0.0


def test_near_duplicates_below_float32_noise_are_never_picked_twice() -> None:
    """Duplicates of rows 10^4 apart: their float32 distances are rounding noise around 0,
    sometimes well below it, and a pick must still be a row not picked before."""
    x = np.repeat(np.random.default_rng(1).normal(scale=1e4, size=(50, 3)), 3, axis=0)
    picks, radius = farthest_first(x, 150, start=0)
    assert sorted(picks) == list(range(150))
    assert radius == 0.0


def test_min_pairwise_distance() -> None:
    x = np.array([[0.0, 0.0], [3.0, 4.0], [3.0, 4.5], [10.0, 0.0]])
    assert min_pairwise_sq(x) == 0.25


def test_a_partition_keeps_tau_candidates_per_group_and_counts_its_rows() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 2))
    keys = np.arange(40, dtype=np.uint64)
    block = Block(np.arange(40), keys, x, np.empty((40, 0)), 2, "7")
    out = list(
        coreset_partition(
            [block], tau=3, metric="euclidean", centres=None, keep_rows=True, groups_each=4
        )
    )
    summary, cached = out[0], out[1:]
    assert [c.rows for c in summary.coresets] == [10, 10, 10, 10]
    assert all(len(c.ids) == 3 for c in summary.coresets)
    assert (summary.bad_rows, summary.bad_example) == (2, "7")
    assert sorted(np.concatenate([b.ids for b in cached]).tolist()) == list(range(40))
    cands = gather([summary], 2)
    assert (len(cands.rows), cands.groups, cands.input_rows) == (12, 4, 40)
    assert cands.max_local_radius == max(c.radius for c in summary.coresets)
