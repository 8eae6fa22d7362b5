"""Per-class confidence thresholds that reach a target accuracy on a labelled validation set.

For each predicted class c the threshold t_c is the lowest confidence t such that the validation
rows predicted as c with confidence >= t have a one-sided Wilson lower confidence bound on their
precision of at least the target. Rows tied on confidence are never split: a threshold takes all
of them. Everything runs in Spark: one aggregate of the validation set by (class, confidence),
running sums over each class's distinct confidences in descending order, and one row per class
back to the driver, so the validation set may be as large as the pool. The same per-class
aggregate bins the confidences for their ECE.

The lowest qualifying threshold is taken among all of a class's candidate thresholds, with no
correction for having looked at several: with many candidates the chance that some set's bound
exceeds the target by luck grows, so a higher CONFIDENCE_LEVEL is the lever for a stricter fit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from selection.engine.scores import ScoreSpec, confidence, pseudo_label
from selection.strategies.calibration import ece, ece_bins


def wilson_z(level: float) -> float:
    """The standard normal quantile of a one-sided bound at `level`."""
    return NormalDist().inv_cdf(level)


def wilson_lower(correct: Column, rows: Column, z: float) -> Column:
    """One-sided Wilson score lower bound of a proportion correct / rows (rows > 0)."""
    n = rows.cast("double")
    p = correct.cast("double") / n
    z2 = F.lit(z * z)
    centre = p + z2 / (F.lit(2.0) * n)
    spread = F.lit(z) * F.sqrt(p * (F.lit(1.0) - p) / n + z2 / (F.lit(4.0) * n * n))
    return (centre - spread) / (F.lit(1.0) + z2 / n)


def wilson_lower_value(correct: int, rows: int, z: float) -> float:
    """The same bound in Python (for reporting and tests)."""
    p = correct / rows
    z2 = z * z
    centre = p + z2 / (2 * rows)
    spread = z * math.sqrt(p * (1 - p) / rows + z2 / (4 * rows * rows))
    return (centre - spread) / (1 + z2 / rows)


@dataclass(frozen=True)
class ClassThreshold:
    """One predicted class: its threshold (None: left out) and the validation figures behind it.

    `validation_rows`: validation rows predicted as the class; `rows_above`, `precision` and
    `lower_bound` are those of the rows at or above the threshold, or, for a class left out, of
    the candidate with the best bound.
    """

    label: int
    threshold: float | None
    validation_rows: int
    rows_above: int
    precision: float | None
    lower_bound: float | None
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "class": self.label,
            "threshold": self.threshold,
            "validation_rows": self.validation_rows,
            "validation_rows_above": self.rows_above,
            "precision": self.precision,
            "lower_bound": self.lower_bound,
            "left_out": self.reason,
        }


@dataclass(frozen=True)
class ClassThresholds:
    """The fit: `thresholds[c]` is class c's threshold, None for a class that gets no row;
    `ece`: the expected calibration error of the confidences it was fitted on (ECE_BINS bins),
    from the same aggregate."""

    target_accuracy: float
    confidence_level: float
    classes: tuple[ClassThreshold, ...]
    ece: float | None = None

    @property
    def thresholds(self) -> list[float | None]:
        return [c.threshold for c in self.classes]

    @property
    def left_out(self) -> list[ClassThreshold]:
        return [c for c in self.classes if c.threshold is None]

    @property
    def warnings(self) -> list[str]:
        return [f"class {c.label} gets no pseudo-labels: {c.reason}" for c in self.left_out]

    def to_json(self) -> dict[str, Any]:
        return {
            "target_accuracy": self.target_accuracy,
            "confidence_level": self.confidence_level,
            "bound": "wilson, one-sided",
            "classes": [c.to_json() for c in self.classes],
            "classes_left_out": [c.label for c in self.left_out],
        }


def fit_class_thresholds(
    validation: DataFrame,
    *,
    label_col: str,
    num_classes: int,
    target_accuracy: float,
    confidence_level: float = 0.95,
    scores: ScoreSpec | None = None,
) -> ClassThresholds:
    """Fit one threshold per predicted class on `validation` (scores plus a true-label column).

    `validation`'s labels must be integers in 0..num_classes-1 (the job checks that first).
    """
    scores = scores or ScoreSpec()
    probs = scores.probabilities(validation)
    z = wilson_z(confidence_level)
    rows = validation.select(
        pseudo_label(probs).alias("c"),
        confidence(probs).alias("q"),
        (F.col(label_col).cast("double") == pseudo_label(probs).cast("double"))
        .cast("long")
        .alias("ok"),
    )
    # Tied confidences become one candidate, so a threshold never splits them.
    distinct = rows.groupBy("c", "q").agg(F.count(F.lit(1)).alias("n"), F.sum("ok").alias("k"))
    down = Window.partitionBy("c").orderBy(F.col("q").desc())
    down = down.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    running = distinct.select(
        "c",
        "q",
        F.col("n").alias("rows_at"),
        F.col("k").alias("correct_at"),
        F.sum("n").over(down).alias("n"),
        F.sum("k").over(down).alias("k"),
    )
    bounded = running.withColumn("lb", wilson_lower(F.col("k"), F.col("n"), z))
    candidate = F.struct("q", "n", "k", "lb")
    reached = F.when(F.col("lb") >= F.lit(float(target_accuracy)), F.col("q"))
    per_class = bounded.groupBy("c").agg(
        F.max("n").alias("support"),
        F.max_by(candidate, F.col("lb")).alias("best"),
        F.min_by(candidate, reached).alias("chosen"),
        # The ECE of these confidences rides along: C rows of bin sums, no pass of its own.
        *ece_bins(F.col("q"), F.col("rows_at"), F.col("correct_at")),
    )
    collected = per_class.collect()
    found = {int(r["c"]): r for r in collected}
    classes = [
        _class_result(c, found.get(c), target_accuracy, confidence_level)
        for c in range(num_classes)
    ]
    return ClassThresholds(target_accuracy, confidence_level, tuple(classes), ece(collected))


def _class_result(c: int, row: Any, target: float, level: float) -> ClassThreshold:
    if row is None:
        return ClassThreshold(
            c, None, 0, 0, None, None, "no validation row is predicted as this class"
        )
    support = int(row["support"])
    chosen = row["chosen"]
    if chosen is not None:
        n, k = int(chosen["n"]), int(chosen["k"])
        return ClassThreshold(c, float(chosen["q"]), support, n, k / n, float(chosen["lb"]))
    best = row["best"]
    n, k, bound = int(best["n"]), int(best["k"]), float(best["lb"])
    reason = (
        f"the best lower bound on its precision at confidence level {level} is {bound:.4f} "
        f"({k}/{n} validation rows correct at confidence >= {float(best['q']):.4f}), "
        f"below the target accuracy {target}"
    )
    return ClassThreshold(c, None, support, n, k / n, bound, reason)
