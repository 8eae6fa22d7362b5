"""Temperature scaling (Guo et al., ICML 2017) fitted on a labelled validation set, in one scan.

The logits are z_c = log p_c, so it works from probabilities alone; the calibrated
probabilities are p_c^(1/T) / sum_j p_j^(1/T) (`ScoreSpec(temperature=T)`), which keeps every
row's argmax. With beta = 1/T the mean negative log-likelihood

    NLL(beta) = mean_i [ log sum_c exp(beta z_ic) - beta z_iy ]

is convex in beta: its k-th derivative (k >= 2) is the mean k-th cumulant of z under the
calibrated probabilities, its first the mean of E_beta[z] - z_y. An iterative search reads the
validation set once per step, so instead one aggregate evaluates the NLL and its first four
derivatives at every point of a log-spaced grid of beta (GRID_POINTS from 1e-2 to 1e2, so it
includes beta = 1, where the ECE before is binned in the same aggregate). On the driver the
derivative's sign change brackets the minimum between two neighbouring grid points, and the
Hermite interpolant of the derivative (in u = log beta, where it is smoother) through its
value and three derivatives at both ends gives the root: within 1e-6 of the exact minimiser
(the tests compare with scipy), at a cost of GRID_POINTS * C exponentials per row instead of
C per step. Probabilities are floored at PROB_FLOOR inside the logarithm (log 0 is -inf), in
the fit only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pyspark.sql import Column, DataFrame, Row
from pyspark.sql import functions as F

from selection.engine.scores import TREE_TERMS, ScoreSpec, pseudo_label
from selection.engine.values import total

PROB_FLOOR = 1e-12
ECE_BINS = 15
# beta = 10^(-2 + i / 5), i = 0..20: T from 0.01 to 100 (a fit at an end says the data is
# degenerate), a ratio of 1.58 between neighbours, and i = 10 is beta = 1.
GRID_POINTS = 21
GRID = tuple(10.0 ** (-2.0 + 4.0 * i / (GRID_POINTS - 1)) for i in range(GRID_POINTS))
_ONE = GRID_POINTS // 2
_ORDERS = 5  # the sums of e d^j for j = 0..4: the NLL and four derivatives


@dataclass(frozen=True)
class TemperatureFit:
    """The fitted temperature and the validation figures before (T = 1) and after.

    `ece_after` is None when the caller takes it from a pass of its own (the job: the class
    thresholds' aggregate bins the calibrated confidences anyway); `scans`: aggregates over
    the validation set the fit ran.
    """

    temperature: float
    nll_before: float
    nll_after: float
    ece_before: float
    ece_after: float | None
    validation_rows: int
    scans: int

    def to_json(self) -> dict[str, Any]:
        return {
            "method": "temperature",
            "temperature": self.temperature,
            "nll_before": self.nll_before,
            "nll_after": self.nll_after,
            "ece_before": self.ece_before,
            "ece_after": self.ece_after,
            "ece_bins": ECE_BINS,
            "validation_rows": self.validation_rows,
            "search": f"one aggregate at {GRID_POINTS} log-spaced temperatures, Hermite root",
            "validation_scans": self.scans,
        }


class _Shifted:
    """d_c = z_c - max_c z_c (<= 0), z_c = log max(p_c, PROB_FLOOR), of a prepared frame.

    Up to TREE_TERMS classes d is C columns and every sum a balanced tree, which Spark compiles
    (array lambdas run interpreted: 5x slower, measured at C = 10); beyond, one array column.
    """

    def __init__(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.columns = num_classes <= TREE_TERMS

    def prepare(self, probs: list[Column], label: Column) -> list[Column]:
        z = [F.log(F.greatest(p, F.lit(PROB_FLOOR))) for p in probs]
        if self.columns:
            m = F.greatest(*z)
            d = [(zc - m).alias(f"d{c}") for c, zc in enumerate(z)]
            return [*d, label.alias("y")]
        arr = F.array(*z)
        top = F.array_max(arr)
        return [F.transform(arr, lambda x: x - top).alias("d"), label.alias("y")]

    def d_true(self) -> Column:
        if self.columns:
            picks = F.array(*[F.col(f"d{c}") for c in range(self.num_classes)])
            return F.element_at(picks, F.col("y") + 1)
        return F.element_at(F.col("d"), F.col("y") + 1)

    def powered(self, k: int, beta: float) -> list[Column]:
        """e = exp(beta d) for grid point k: one column per class, or one array."""
        b = F.lit(beta)
        if self.columns:
            return [F.exp(b * F.col(f"d{c}")).alias(f"e{k}_{c}") for c in range(self.num_classes)]
        return [F.transform(F.col("d"), lambda x: F.exp(b * x)).alias(f"e{k}")]

    def sums(self, k: int) -> list[Column]:
        """sum_c e d^j for j = 0.._ORDERS-1 at grid point k, of a frame with `powered` columns."""
        if self.columns:
            e = [F.col(f"e{k}_{c}") for c in range(self.num_classes)]
            d = [F.col(f"d{c}") for c in range(self.num_classes)]
            out, terms = [], e
            for j in range(_ORDERS):
                out.append(total(terms))
                if j + 1 < _ORDERS:
                    terms = [t * dc for t, dc in zip(terms, d, strict=True)]
            return out
        # One interpreted pass over the classes, the five sums in a struct accumulator.
        pairs = F.arrays_zip(F.col(f"e{k}"), F.col("d"))
        zero = F.struct(*[F.lit(0.0).alias(f"s{j}") for j in range(_ORDERS)])

        def add(acc: Column, pair: Column) -> Column:
            terms = [pair[f"e{k}"]]
            for _ in range(1, _ORDERS):
                terms.append(terms[-1] * pair["d"])
            return F.struct(*[(acc[f"s{j}"] + t).alias(f"s{j}") for j, t in enumerate(terms)])

        acc = F.aggregate(pairs, zero, add)
        return [acc[f"s{j}"] for j in range(_ORDERS)]


def _cumulants(k: int) -> list[Column]:
    """Per row, over the sums s{k}_j: log sum e, then the mean and the 2nd to 4th cumulants of
    d under e / sum e."""
    s0 = F.col(f"s{k}_0")
    m1, m2, m3, m4 = (F.col(f"s{k}_{j}") / s0 for j in range(1, _ORDERS))
    c2 = m2 - m1 * m1
    c3 = m3 - 3.0 * m1 * m2 + 2.0 * m1 * m1 * m1
    c4 = m4 - 4.0 * m1 * m3 - 3.0 * m2 * m2 + 12.0 * m1 * m1 * m2 - 6.0 * m1 * m1 * m1 * m1
    return [F.log(s0), m1, c2, c3, c4]


def ece_bins(q: Column, rows: Column, correct: Column) -> list[Column]:
    """Aggregates (rows, sum of confidence, correct) per equal-width confidence bin, of rows
    with confidence `q` weighted by `rows`, of which `correct` are right; `ece` reads them."""
    b = F.least(F.floor(q * ECE_BINS), F.lit(ECE_BINS - 1)).cast("int")
    out = []
    for i in range(ECE_BINS):
        inside = b == i
        out += [
            F.sum(F.when(inside, rows)).alias(f"ece_n{i}"),
            F.sum(F.when(inside, q * rows)).alias(f"ece_q{i}"),
            F.sum(F.when(inside, correct)).alias(f"ece_k{i}"),
        ]
    return out


def ece(rows: Sequence[Row]) -> float:
    """The expected calibration error from `ece_bins` aggregates (summed over `rows`)."""
    count = gap = 0.0
    for i in range(ECE_BINS):
        n = sum(float(r[f"ece_n{i}"] or 0) for r in rows)
        q = sum(float(r[f"ece_q{i}"] or 0) for r in rows)
        k = sum(float(r[f"ece_k{i}"] or 0) for r in rows)
        count, gap = count + n, gap + abs(k - q)
    return gap / count if count else 0.0


def fit_temperature(
    validation: DataFrame,
    *,
    label_col: str,
    scores: ScoreSpec | None = None,
    ece_after: bool = True,
) -> TemperatureFit:
    """Fit T on `validation` (scores plus integer labels in 0..C-1, checked by the caller).

    One aggregate over `validation`; `ece_after=False` skips the second one that bins the
    calibrated confidences (for a caller that bins them in a pass of its own).
    """
    scores = scores or ScoreSpec()
    probs = list(scores.probabilities(validation))
    label = F.col(label_col).cast("double").cast("int")
    shifted = _Shifted(len(probs))
    prepared = validation.select(
        *shifted.prepare(probs, label), (label == pseudo_label(probs)).cast("long").alias("ok")
    ).withColumn("dy", shifted.d_true())
    powered = prepared.select(
        "*", *[e for k, beta in enumerate(GRID) for e in shifted.powered(k, beta)]
    )
    # Each stage a projection of plain columns: the cumulants reuse the sums many times, and a
    # nested expression would repeat them.
    sums = powered.select(
        "dy",
        "ok",
        *[s.alias(f"s{k}_{j}") for k in range(len(GRID)) for j, s in enumerate(shifted.sums(k))],
    )
    dy = F.col("dy")
    per_row = [(1.0 / F.col(f"s{_ONE}_0")).alias("q0"), F.col("ok")]
    for k, beta in enumerate(GRID):
        log_s, m1, *cumulants = _cumulants(k)
        per_row += [(log_s - F.lit(beta) * dy).alias(f"f{k}_0"), (m1 - dy).alias(f"f{k}_1")]
        per_row += [c.alias(f"f{k}_{j}") for j, c in enumerate(cumulants, start=2)]
    names = [f"f{k}_{j}" for k in range(len(GRID)) for j in range(_ORDERS)]
    aggregates = [
        F.count(F.lit(1)).alias("n"),
        *[F.avg(n).alias(n) for n in names],
        *ece_bins(F.col("q0"), F.lit(1), F.col("ok")),
    ]
    powered = sums.select(*per_row)
    row = powered.agg(*aggregates).first()
    assert row is not None
    rows = int(row["n"])
    values = [[float(row[f"f{k}_{j}"]) for j in range(_ORDERS)] for k in range(len(GRID))]
    beta, nll = _minimum(values)
    scans, after = 1, None
    if ece_after:
        after, scans = _ece_at(prepared, shifted, beta), 2
    return TemperatureFit(1.0 / beta, values[_ONE][0], nll, ece([row]), after, rows, scans)


def _ece_at(prepared: DataFrame, shifted: _Shifted, beta: float) -> float:
    """The ECE of the probabilities calibrated by 1/beta: one more aggregate."""
    powered = prepared.select("ok", *_d_columns(shifted), *shifted.powered(0, beta))
    q = powered.select("ok", (1.0 / shifted.sums(0)[0]).alias("q"))
    return ece(q.agg(*ece_bins(F.col("q"), F.lit(1), F.col("ok"))).collect())


def _d_columns(shifted: _Shifted) -> list[str]:
    return [f"d{c}" for c in range(shifted.num_classes)] if shifted.columns else ["d"]


def _in_u(beta: float, f: Sequence[float]) -> list[float]:
    """d^j/du^j NLL for j = 0..4 at u = log beta, from the derivatives in beta (chain rule)."""
    b1, b2, b3, b4 = beta * f[1], beta**2 * f[2], beta**3 * f[3], beta**4 * f[4]
    return [f[0], b1, b1 + b2, b1 + 3 * b2 + b3, b1 + 7 * b2 + 6 * b3 + b4]


def _hermite(v0: Sequence[float], v1: Sequence[float], h: float) -> np.polynomial.Polynomial:
    """The polynomial in t in [0, 1] with the j-th derivatives v0[j] at t = 0 and v1[j] at t = 1
    (derivatives given per unit of the original variable, the interval `h` long)."""
    m = len(v0)
    degree = 2 * m
    a, rhs = np.zeros((degree, degree)), np.zeros(degree)
    for side, (t, v) in enumerate(((0.0, v0), (1.0, v1))):
        for j in range(m):
            for p in range(j, degree):
                a[side * m + j, p] = float(np.prod(np.arange(p - j + 1, p + 1))) * t ** (p - j)
            rhs[side * m + j] = v[j] * h**j
    return np.polynomial.Polynomial(np.linalg.solve(a, rhs))


def _minimum(values: Sequence[Sequence[float]]) -> tuple[float, float]:
    """(beta, NLL) at the minimum, from the NLL and its derivatives at every grid point."""
    grad = [v[1] for v in values]
    if grad[0] > 0:  # still rising at T = 100: no calibration signal, the end of the range
        return GRID[0], values[0][0]
    if grad[-1] <= 0:  # still falling at T = 0.01: separable data
        return GRID[-1], values[-1][0]
    k = next(i for i in range(len(GRID) - 1) if grad[i] <= 0 < grad[i + 1])
    u0, u1 = np.log(GRID[k]), np.log(GRID[k + 1])
    d0, d1 = _in_u(GRID[k], values[k]), _in_u(GRID[k + 1], values[k + 1])
    slope = _hermite(d0[1:], d1[1:], u1 - u0)
    lo, hi = 0.0, 1.0  # slope(lo) <= 0 < slope(hi); bisection keeps that whatever the shape
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if slope(mid) <= 0:
            lo = mid
        else:
            hi = mid
    t = 0.5 * (lo + hi)
    nll = float(_hermite(d0, d1, u1 - u0)(t))
    return float(np.exp(u0 + t * (u1 - u0))), nll
