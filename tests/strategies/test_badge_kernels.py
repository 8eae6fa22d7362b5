"""BADGE's kernels: factorised gradient distances, seeded draws, carried D^2, k-means++."""

from __future__ import annotations

import numpy as np
import pytest

from selection.strategies.badge_kernels import (
    CentreOperands,
    Centres,
    Coverage,
    GradientRows,
    best_draws,
    exact_cost,
    gradient_factors,
    sq_dists,
    uniforms,
    update_nearest,
    weighted_kmeanspp,
)


def test_factorised_distances_equal_the_materialised_embedding() -> None:
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(4), size=9)
    h = rng.normal(size=(9, 5))
    a = gradient_factors(p)
    g = np.einsum("ic,id->icd", a, h).reshape(9, 20)  # what BADGE never builds
    brute = ((g[:, None, :] - g[None, 2:5, :]) ** 2).sum(-1)
    np.testing.assert_allclose(sq_dists(a, h, a[2:5], h[2:5]), brute, atol=1e-12)
    assert np.all(sq_dists(a, h, a, h).diagonal() == 0.0)


def test_gradient_factor_takes_the_lowest_class_on_a_tie() -> None:
    a = gradient_factors(np.array([[0.4, 0.4, 0.2]]))
    np.testing.assert_allclose(a, [[-0.6, 0.4, 0.2]])


def test_uniforms_are_seeded_per_row_and_round() -> None:
    keys = np.arange(100_000, dtype=np.int64).view(np.uint64)
    u = uniforms(keys, 1)
    assert np.all((u > 0) & (u < 1))
    assert abs(u.mean() - 0.5) < 0.01
    np.testing.assert_array_equal(u, uniforms(keys, 1))
    assert np.mean(u == uniforms(keys, 2)) < 1e-4


def test_weighted_kmeanspp_never_takes_a_covered_candidate_while_others_remain() -> None:
    a = np.array([[1.0, -1.0], [1.0, -1.0], [0.5, -0.5], [-1.0, 1.0]])
    h = np.ones((4, 1))
    rng = np.random.default_rng(0)
    # Candidate 1 duplicates candidate 0; zero-weight candidate 2 is never drawn either.
    picks = weighted_kmeanspp(a, h, np.array([5.0, 3.0, 0.0, 1.0]), 2, rng)
    assert picks == [0, 3]
    # Nothing left at a positive distance: the heaviest remaining ones fill the batch.
    assert weighted_kmeanspp(a, h, np.array([5.0, 3.0, 0.0, 1.0]), 4, rng)[2:] == [1, 2]


def _rows(a: np.ndarray, h: np.ndarray, keys: np.ndarray) -> GradientRows:
    return GradientRows(np.arange(len(a)), keys, a, h)


def test_carried_distances_equal_a_full_recompute() -> None:
    """D^2 updated round by round with only the new centres = D^2 to all of them at once."""
    rng = np.random.default_rng(3)
    a = gradient_factors(rng.dirichlet(np.ones(5), size=4000))
    h = rng.normal(size=(4000, 7)) * 3
    rows = _rows(a, h, np.arange(4000, dtype=np.uint64))
    block = Coverage.empty(4000)
    rounds = [np.arange(0, 1), np.arange(1, 60), np.arange(60, 400)]
    for idx in rounds:
        centres = CentreOperands.of(Centres(a[idx], h[idx], int(idx[0])))
        block = update_nearest(rows, block, centres)
    full = sq_dists(a, h, a[:400], h[:400])
    best = full.min(axis=1)
    norms = np.einsum("ij,ij->i", a, a) * np.einsum("ij,ij->i", h, h)
    tol = 1e-4 * (norms + norms[:400].max())
    assert np.all(np.abs(block.d2 - best) <= tol)
    # The carried index names a centre at that distance (a near tie may name its twin).
    assert np.all(np.abs(full[np.arange(4000), block.nearest] - best) <= 2 * tol)
    assert np.all(block.d2[:400] == 0.0)  # every centre is at D^2 = 0 from itself


def test_draws_skip_candidates_and_fill_a_shortfall_by_u() -> None:
    rng = np.random.default_rng(4)
    a = gradient_factors(rng.dirichlet(np.ones(3), size=50))
    h = rng.normal(size=(50, 2))
    keys = np.arange(100, 150, dtype=np.uint64)
    block = _rows(a, h, keys)
    d2 = np.zeros(50, dtype=np.float32)
    d2[[3, 7]] = [1.0, 2.0]
    cover = Coverage(d2, np.zeros(50, dtype=np.int32))
    excluded = np.array([105, 120], dtype=np.uint64)
    got = best_draws(block, cover, ell=6, stream=1, excluded=excluded, floor=-np.inf)
    assert got.ids[:2].tolist() in ([3, 7], [7, 3])  # D^2 > 0 first
    assert got.weighted.tolist() == [True, True, False, False, False, False]
    rest = [i for i in range(50) if i not in (3, 7, 5, 20)]
    u = uniforms(keys, 1)
    assert got.ids[2:].tolist() == sorted(rest, key=lambda i: -u[i])[:4]
    # With enough rows at D^2 > 0, rows at 0 are never drawn and the floor cuts the rest.
    cover = Coverage(np.linspace(1.0, 2.0, 50).astype(np.float32), cover.nearest)
    every = best_draws(block, cover, ell=50, stream=2, excluded=excluded, floor=-np.inf)
    assert len(every) == 48 and every.weighted.all() and not set(every.ids) & {5, 20}
    top = best_draws(block, cover, ell=5, stream=2, excluded=excluded, floor=float(every.score[9]))
    assert top.ids.tolist() == every.ids[:5].tolist()


def test_exact_cost_equals_the_float64_sum_over_tiles_and_items() -> None:
    rng = np.random.default_rng(6)
    a = gradient_factors(rng.dirichlet(np.ones(4), size=3000))
    h = rng.normal(size=(3000, 5))
    chosen = Centres(a[:40], h[:40], 0)
    operands = CentreOperands.of(chosen)
    brute = float(sq_dists(a, h, chosen.a, chosen.h).min(axis=1).sum())
    rows = _rows(a, h, np.arange(3000, dtype=np.uint64))
    assert exact_cost(rows, chosen, operands) == pytest.approx(brute, rel=1e-12)
    first, rest = (
        _rows(a[:1000], h[:1000], rows.keys[:1000]),
        _rows(a[1000:], h[1000:], rows.keys[1000:]),
    )
    total = exact_cost(rest, chosen, operands, start=exact_cost(first, chosen, operands))
    assert total == pytest.approx(brute, rel=1e-12)
    assert exact_cost(_rows(a[:0], h[:0], rows.keys[:0]), chosen, operands, start=2.5) == 2.5
