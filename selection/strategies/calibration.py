"""Temperature scaling (Guo et al., ICML 2017) fitted on a labelled validation set, in Spark.

The logits are z_c = log p_c, so it works from probabilities alone; the calibrated
probabilities are p_c^(1/T) / sum_j p_j^(1/T) (`ScoreSpec(temperature=T)`), which keeps every
row's argmax. With beta = 1/T the mean negative log-likelihood

    NLL(beta) = mean_i [ log sum_c exp(beta z_ic) - beta z_iy ]

is convex in beta (its second derivative is the mean variance of z under the calibrated
probabilities), so a safeguarded Newton search on beta finds the minimum in a handful of steps;
each step is one aggregate over the validation set (value, gradient and curvature together), so
only three numbers per step reach the driver. Probabilities are floored at PROB_FLOOR inside the
logarithm (log 0 is -inf), in the fit only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from selection.engine.scores import TREE_TERMS, ScoreSpec, pseudo_label
from selection.engine.values import total

PROB_FLOOR = 1e-12
ECE_BINS = 15
BETA_RANGE = (1e-3, 1e3)  # T from 0.001 to 1000; a fit at an end says the data is degenerate
MAX_STEPS = 60
_TOLERANCE = 1e-7  # relative change of beta at which the search stops


@dataclass(frozen=True)
class TemperatureFit:
    """The fitted temperature and the validation figures before (T = 1) and after."""

    temperature: float
    nll_before: float
    nll_after: float
    ece_before: float
    ece_after: float
    validation_rows: int
    steps: int

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
            "search_steps": self.steps,
        }


def _sum(values: Column) -> Column:
    return F.aggregate(values, F.lit(0.0), lambda acc, x: acc + x)


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

    def powered(self, df: DataFrame, beta: float) -> DataFrame:
        """`df` with e_c = exp(beta d_c) computed once per class (or the array e)."""
        b = F.lit(beta)
        if self.columns:
            e = [F.exp(b * F.col(f"d{c}")).alias(f"e{c}") for c in range(self.num_classes)]
        else:
            e = [F.transform(F.col("d"), lambda x: F.exp(b * x)).alias("e")]
        return df.select("*", *e)

    def sums(self) -> tuple[Column, Column, Column]:
        """(sum e, sum e d, sum e d^2) over the classes, of a `powered` frame."""
        if self.columns:
            e = [F.col(f"e{c}") for c in range(self.num_classes)]
            d = [F.col(f"d{c}") for c in range(self.num_classes)]
            return (
                total(e),
                total([ec * dc for ec, dc in zip(e, d, strict=True)]),
                total([ec * dc * dc for ec, dc in zip(e, d, strict=True)]),
            )
        e_arr, d_arr = F.col("e"), F.col("d")
        return (
            _sum(e_arr),
            _sum(F.zip_with(e_arr, d_arr, lambda a, b: a * b)),
            _sum(F.zip_with(e_arr, d_arr, lambda a, b: a * b * b)),
        )


def fit_temperature(
    validation: DataFrame, *, label_col: str, scores: ScoreSpec | None = None
) -> TemperatureFit:
    """Fit T on `validation` (scores plus integer labels in 0..C-1, checked by the caller)."""
    scores = scores or ScoreSpec()
    probs = list(scores.probabilities(validation))
    label = F.col(label_col).cast("double").cast("int")
    shifted = _Shifted(len(probs))
    prepared = validation.select(
        *shifted.prepare(probs, label), (label == pseudo_label(probs)).alias("ok")
    )
    prepared = prepared.withColumn("dy", shifted.d_true())

    def evaluate(beta: float) -> tuple[float, float, float, int]:
        s, s1, s2 = shifted.sums()
        mean, second = s1 / s, s2 / s
        dy = F.col("dy")
        row = (
            shifted.powered(prepared, beta)
            .agg(
                F.avg(F.log(s) - F.lit(beta) * dy).alias("l"),
                F.avg(mean - dy).alias("g"),
                F.avg(second - mean * mean).alias("h"),
                F.count(F.lit(1)).alias("n"),
            )
            .first()
        )
        assert row is not None
        return float(row["l"]), float(row["g"]), float(row["h"]), int(row["n"])

    nll_before, grad, curv, rows = evaluate(1.0)
    beta, nll, steps = 1.0, nll_before, 1
    low, high = BETA_RANGE
    while steps < MAX_STEPS:
        # The gradient's sign says on which side of beta the minimum lies.
        if grad > 0:
            high = beta
        else:
            low = beta
        step = beta - grad / curv if curv > 0 else math.nan
        if not low < step < high:
            step = math.sqrt(low * high)  # bisect in log space
        if abs(step - beta) <= _TOLERANCE * beta:
            break
        beta = step
        nll, grad, curv, _ = evaluate(beta)
        steps += 1
    ece_before, ece_after = _ece(prepared, shifted, beta)
    return TemperatureFit(1.0 / beta, nll_before, nll, ece_before, ece_after, rows, steps)


def _ece(prepared: DataFrame, shifted: _Shifted, beta: float) -> tuple[float, float]:
    """Expected calibration error (ECE_BINS equal-width confidence bins) at T = 1 and 1/beta,
    in one aggregate of the validation set: the max calibrated probability is 1 / sum exp(beta d).
    """
    before = shifted.powered(prepared, 1.0).withColumn("q0", 1.0 / shifted.sums()[0])
    both = shifted.powered(before.select("q0", "ok", *_d_columns(shifted)), beta)
    both = both.withColumn("q1", 1.0 / shifted.sums()[0])
    pairs = F.array(
        F.struct(F.lit(0).alias("t"), F.col("q0").alias("q")),
        F.struct(F.lit(1).alias("t"), F.col("q1").alias("q")),
    )
    exploded = both.select(F.explode(pairs).alias("x"), "ok").select("x.t", "x.q", "ok")
    binned = exploded.withColumn(
        "b", F.least(F.floor(F.col("q") * ECE_BINS), F.lit(ECE_BINS - 1)).cast("int")
    )
    groups = (
        binned.groupBy("t", "b")
        .agg(
            F.count(F.lit(1)).alias("n"),
            F.sum("q").alias("q"),
            F.sum(F.col("ok").cast("long")).alias("k"),
        )
        .collect()
    )
    out = []
    for setting in (0, 1):
        rows = [g for g in groups if g["t"] == setting]
        count = sum(int(g["n"]) for g in rows)
        gap = sum(abs(float(g["k"]) - float(g["q"])) for g in rows)
        out.append(gap / count if count else 0.0)
    return out[0], out[1]


def _d_columns(shifted: _Shifted) -> list[str]:
    return [f"d{c}" for c in range(shifted.num_classes)] if shifted.columns else ["d"]
