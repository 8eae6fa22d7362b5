"""What BADGE's passes run in a partition: its first centre, a round's summary and coverage."""

from __future__ import annotations

import numpy as np
import pytest

from selection.engine.blocks import Block
from selection.strategies.badge_kernels import (
    CentreOperands,
    Centres,
    Coverage,
    GradientRows,
    gradient_factors,
    sq_dists,
    update_nearest,
)
from selection.strategies.badge_rounds import (
    RoundInput,
    RoundSummary,
    gradient_rows,
    kmeans_round,
    top_norm,
    weigh,
    with_coverage,
)


def _rows(n: int, seed: int) -> GradientRows:
    rng = np.random.default_rng(seed)
    a = gradient_factors(rng.dirichlet(np.ones(3), size=n))
    keys = rng.integers(0, 2**62, size=n).astype(np.uint64)
    return GradientRows(np.arange(n), keys, a, rng.normal(size=(n, 2)))


def test_the_first_centre_is_the_largest_norm_with_the_lowest_id() -> None:
    p = np.array([[0.6, 0.4], [0.4, 0.6], [1.0, 0.0]])
    x = np.array([[3.0, 4.0], [0.0, 5.0], [9.0, 9.0]])
    block = Block(np.array([7, 3, 5]), np.arange(3, dtype=np.uint64), x, p, 1, "9")
    out = list(gradient_rows([block], metric="euclidean"))
    top, items = out[0], out[1:]
    assert (top.id, top.norm) == (3, pytest.approx(8.0))  # 7 and 3 tie at 2 * 0.16 * 25
    assert (top.rows, top.bad_rows, top.bad_example) == (3, 1, "9")
    assert [len(i) for i in items] == [3]
    assert top_norm([], block).id is None


class _Value:
    """Stands in for a broadcast on the executor side."""

    def __init__(self, value: object) -> None:
        self.value = value


def test_a_round_yields_its_summary_then_one_coverage_per_item() -> None:
    items = [_rows(50, 1), _rows(30, 2)]
    first = items[0]
    centres = Centres(first.a[:2], first.h[:2], 0)
    spec = RoundInput(centres, np.sort(first.keys[:2]), 1, 5)
    out = list(kmeans_round(items, spec=_Value(spec)))  # type: ignore[arg-type]
    summary, covers = out[0], out[1:]
    assert isinstance(summary, RoundSummary)
    assert [len(c.d2) for c in covers] == [50, 30]
    assert summary.cost == sum(float(c.d2.sum(dtype=np.float64)) for c in covers)
    assert len(summary.draws) == 5 and not set(summary.draws.keys) & set(first.keys[:2])
    # The next round reads the rows zipped with this coverage, and only measures new centres.
    zipped = list(with_coverage(zip(items, covers, strict=True)))
    assert [r is i for (r, _), i in zip(zipped, items, strict=True)] == [True, True]
    later = Centres(items[1].a[:3], items[1].h[:3], 2)
    carried = update_nearest(items[1], covers[1], CentreOperands.of(later))
    both = np.vstack([first.a[:2], items[1].a[:3]]), np.vstack([first.h[:2], items[1].h[:3]])
    full = sq_dists(items[1].a, items[1].h, *both).min(axis=1)
    assert np.allclose(carried.d2, full, atol=1e-4)


def test_weights_count_the_rows_nearest_each_candidate() -> None:
    rows = _rows(200, 3)
    centres = Centres(rows.a[:4], rows.h[:4], 0)
    items = [(rows, Coverage.empty(len(rows)))]
    ((cost, counts),) = list(weigh(items, centres=_Value(centres), count=4))  # type: ignore[arg-type]
    assert counts.sum() == 200 and np.all(counts >= 1)
    brute = sq_dists(rows.a, rows.h, centres.a, centres.h).min(axis=1).sum()
    assert cost == pytest.approx(brute, rel=1e-4)
