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

from selection.engine.scores import ScoreSpec, pseudo_label

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


def _shifted_logits(probs: list[Column]) -> tuple[Column, Column]:
    """(d, m): d_c = z_c - max_c z_c (<= 0) with z_c = log max(p_c, PROB_FLOOR), and that max."""
    z = F.transform(F.array(*probs), lambda p: F.log(F.greatest(p, F.lit(PROB_FLOOR))))
    m = F.array_max(z)
    return F.transform(z, lambda x: x - m), m


def _sum(values: Column) -> Column:
    return F.aggregate(values, F.lit(0.0), lambda acc, x: acc + x)


def _nll_terms(d: Column, d_true: Column, beta: float) -> list[Column]:
    """Per-row loss, gradient and curvature of NLL at `beta`."""
    e = F.transform(d, lambda x: F.exp(F.lit(beta) * x))
    s = _sum(e)
    s1 = _sum(F.zip_with(e, d, lambda a, b: a * b)) / s
    s2 = _sum(F.zip_with(e, d, lambda a, b: a * b * b)) / s
    return [
        F.log(s) - F.lit(beta) * d_true,
        s1 - d_true,
        s2 - s1 * s1,
    ]


def fit_temperature(
    validation: DataFrame, *, label_col: str, scores: ScoreSpec | None = None
) -> TemperatureFit:
    """Fit T on `validation` (scores plus integer labels in 0..C-1, checked by the caller)."""
    scores = scores or ScoreSpec()
    probs = list(scores.probabilities(validation))
    label = F.col(label_col).cast("double").cast("int")
    d, _ = _shifted_logits(probs)
    prepared = validation.select(
        d.alias("d"),
        F.element_at(d, label + 1).alias("dy"),
        (label == pseudo_label(probs)).alias("ok"),
    )

    def evaluate(beta: float) -> tuple[float, float, float, int]:
        loss, grad, curv = _nll_terms(F.col("d"), F.col("dy"), beta)
        row = prepared.agg(
            F.avg(loss).alias("l"),
            F.avg(grad).alias("g"),
            F.avg(curv).alias("h"),
            F.count(F.lit(1)).alias("n"),
        ).first()
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
    ece_before, ece_after = _ece(prepared, beta)
    return TemperatureFit(1.0 / beta, nll_before, nll, ece_before, ece_after, rows, steps)


def _ece(prepared: DataFrame, beta: float) -> tuple[float, float]:
    """Expected calibration error (ECE_BINS equal-width confidence bins) at T = 1 and 1/beta,
    in one aggregate of the validation set: the max calibrated probability is 1 / sum exp(beta d).
    """
    d = F.col("d")

    def conf(b: float) -> Column:
        return F.lit(1.0) / _sum(F.transform(d, lambda x: F.exp(F.lit(b) * x)))

    both = F.array(
        F.struct(F.lit(0).alias("t"), conf(1.0).alias("q")),
        F.struct(F.lit(1).alias("t"), conf(beta).alias("q")),
    )
    exploded = prepared.select(F.explode(both).alias("x"), "ok").select("x.t", "x.q", "ok")
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
        total = sum(int(g["n"]) for g in rows)
        gap = sum(abs(float(g["k"]) - float(g["q"])) for g in rows)
        out.append(gap / total if total else 0.0)
    return out[0], out[1]
