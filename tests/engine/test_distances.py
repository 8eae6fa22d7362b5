"""float32 distance kernels against float64 brute force: exact figures, bounded error."""

from __future__ import annotations

import numpy as np
import pytest

from selection.engine.distances import (
    Centres32,
    error_bound,
    max_nearest_sq_dist,
    nearest_sq_dist,
    prepare_features,
    unit_rows,
)


def test_nearest_distance_is_exact_far_from_the_origin() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(7, 3)) + 1e8
    x = np.vstack([centres[2] + 1e-3, rng.normal(size=(50, 3)) + 1e8])
    brute = ((x[:, None, :] - centres[None, :, :]) ** 2).sum(-1).min(1)
    got = nearest_sq_dist(x, centres, chunk=16)
    np.testing.assert_allclose(got, brute, rtol=1e-6)
    assert got[0] == pytest.approx(3e-6, rel=1e-3)


def test_unit_rows_leave_zero_rows_zero() -> None:
    got = unit_rows(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(got, [[0.6, 0.8], [0.0, 0.0]])


def test_cosine_prepares_unit_rows_and_euclidean_leaves_rows_alone() -> None:
    x = np.array([[3.0, 4.0], [0.0, 2.0]])
    np.testing.assert_allclose(prepare_features(x, "cosine"), [[0.6, 0.8], [0.0, 1.0]])
    assert prepare_features(x, "euclidean") is x


def _brute_nearest(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    return ((x[:, None, :] - centres[None, :, :]) ** 2).sum(-1).min(1)


@pytest.mark.parametrize("offset", [0.0, 1e4])
def test_float32_screening_gives_float64_distances(offset: float) -> None:
    """Centres in near-tied pairs, far from the origin: float32 alone would pick wrong ones."""
    rng = np.random.default_rng(1)
    base = rng.normal(size=(40, 6))
    centres = np.vstack([base, base + 1e-6]) + offset
    x = rng.normal(size=(3000, 6)) * 2 + offset
    x[:40] = centres[:40] + 1e-7  # right next to a centre and its near twin
    brute = _brute_nearest(x, centres)
    got = nearest_sq_dist(x, centres)
    np.testing.assert_allclose(got, brute, rtol=1e-9, atol=1e-18)
    assert nearest_sq_dist(x, Centres32.of(centres)).tolist() == got.tolist()
    assert max_nearest_sq_dist(x, centres) == pytest.approx(brute.max(), rel=1e-12)
    assert max_nearest_sq_dist(x[:0], centres) == 0.0


def test_error_bound_covers_the_float32_error() -> None:
    rng = np.random.default_rng(2)
    for scale in (1e-3, 1.0, 1e3):
        x = rng.normal(size=(2000, 16)) * scale
        c = rng.normal(size=(300, 16)) * scale
        exact = ((x[:, None, :] - c[None, :, :]) ** 2).sum(-1)
        x32, c32 = x.astype(np.float32), c.astype(np.float32)
        sq, csq = (x32 * x32).sum(1), (c32 * c32).sum(1)
        approx = sq[:, None] + csq[None, :] - 2 * (x32 @ c32.T)
        bound = error_bound(16, (x * x).sum(1)[:, None], float((c * c).sum(1).max()))
        assert np.all(np.abs(approx - exact) <= bound)
