"""Semi-supervised strategies: choose confident predictions to use as pseudo-labels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Observation, Window
from pyspark.sql import functions as F

from selection.engine.committee import agreement as committee_agreement
from selection.engine.observed import observe_once, observed_once
from selection.engine.ranking import RANK_BUCKETS, rank_all, rank_top_n
from selection.engine.scores import ScoreSpec, confidence, pseudo_label
from selection.engine.values import ascending_id
from selection.errors import SelectionInputError, SelectionParamError
from selection.names import (
    AUTO_THRESHOLD,
    CONFIDENCE,
    DATA_SOURCE,
    DATA_SOURCE_SSL,
    PSEUDO_LABEL,
    SELECTION_RANK,
    Strategy,
)
from selection.params import PseudoLabelParams, at_least, finite, param
from selection.strategies.result import Transform


@dataclass(frozen=True, kw_only=True)
class ConfidenceThreshold(PseudoLabelParams):
    """Rows whose confidence (max probability) is at least `threshold`.

    `threshold="auto"`: one threshold per predicted class, the lowest whose validation rows
    reach `target_accuracy` at `confidence_level` (see `selection.strategies.thresholds`).
    """

    strategy = Strategy.CONFIDENCE_THRESHOLD
    threshold: float | str = param(
        0.9, "minimum confidence, in [0.5, 1]; auto: per class, fitted to TARGET_ACCURACY"
    )
    max_per_class: int = param(0, "cap on selected rows per predicted class, 0 = none")
    target_accuracy: float = param(
        0.0, "with threshold auto: precision each class must reach on validation, in (0, 1)"
    )
    confidence_level: float = param(
        0.95, "one-sided confidence of the Wilson lower bound on that precision, in [0.5, 1)"
    )
    agreement: bool = param(
        False,
        "committee: only rows where every member predicts the same class at >= the threshold",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        at_least("max_per_class", self.max_per_class, 0)
        finite("target_accuracy", self.target_accuracy)
        finite("confidence_level", self.confidence_level)
        if not 0.5 <= self.confidence_level < 1.0:
            raise SelectionParamError(
                "confidence_level", "is outside [0.5, 1.0)", self.confidence_level
            )
        if isinstance(self.threshold, str):
            text = self.threshold.strip().lower()
            if text != AUTO_THRESHOLD:
                raise SelectionParamError(
                    "threshold", f"is not a number or '{AUTO_THRESHOLD}'", repr(self.threshold)
                )
            object.__setattr__(self, "threshold", AUTO_THRESHOLD)
            if not 0.0 < self.target_accuracy < 1.0:
                raise SelectionParamError(
                    "target_accuracy",
                    "must be in (0, 1) when threshold='auto'",
                    self.target_accuracy,
                )
            return
        finite("threshold", self.threshold)
        if not 0.5 <= self.threshold <= 1.0:
            raise SelectionParamError("threshold", "is outside [0.5, 1.0]", self.threshold)
        if self.target_accuracy != 0.0:
            # A fixed threshold would leave the target unused without a word.
            raise SelectionParamError(
                "target_accuracy", "needs threshold='auto'", self.target_accuracy
            )

    @property
    def is_auto(self) -> bool:
        return self.threshold == AUTO_THRESHOLD


@dataclass(frozen=True, kw_only=True)
class TopKPerClass(PseudoLabelParams):
    """For each predicted class its `k` most confident rows."""

    strategy = Strategy.TOP_K_PER_CLASS
    k: int = param(100, "rows per predicted class")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.k < 1:
            raise SelectionParamError("k", "must be >= 1", self.k)


def with_pseudo_labels(scores: ScoreSpec = PseudoLabelParams.scores) -> Transform:
    """Add `pseudo_label` (argmax, lowest index on a tie) and `confidence` (max probability)."""

    def transform(df: DataFrame) -> DataFrame:
        probs = scores.probabilities(df)
        return df.withColumn(PSEUDO_LABEL, pseudo_label(probs)).withColumn(
            CONFIDENCE, confidence(probs)
        )

    return transform


def _order(df: DataFrame, id_col: str) -> list[Column]:
    return [F.col(CONFIDENCE).desc(), *ascending_id(df, id_col)]


def _finish(ranked: DataFrame, input_columns: list[str]) -> DataFrame:
    out = ranked.withColumn(DATA_SOURCE, F.lit(DATA_SOURCE_SSL))
    added = [PSEUDO_LABEL, CONFIDENCE, DATA_SOURCE, SELECTION_RANK]
    # Both rankers emit rows in rank order, so no further sort is needed.
    return out.select(*input_columns, *added)


def confidence_threshold(
    threshold: float | str = ConfidenceThreshold.threshold,
    max_samples: int = ConfidenceThreshold.max_samples,
    *,
    max_per_class: int = ConfidenceThreshold.max_per_class,
    class_thresholds: Sequence[float | None] | None = None,
    id_col: str = ConfidenceThreshold.id_col,
    scores: ScoreSpec = ConfidenceThreshold.scores,
    agreement: bool = ConfidenceThreshold.agreement,
) -> Transform:
    """Rows whose confidence is at least `threshold`; with `max_samples` > 0, the most confident.

    `max_per_class` > 0 keeps at most that many of each predicted class (the most confident).
    `class_thresholds` (item c: class c's threshold, None: no row of c) replaces `threshold`,
    e.g. `fit_class_thresholds(...).thresholds`. Without a cap the size of the selection is not
    known in advance: the transform then runs a Spark job when applied (one scan of the input,
    the kept rows persisted) and ranks them in one task when they are few, or by a distributed
    sort when they are many.
    """
    params = ConfidenceThreshold(
        threshold=threshold,
        max_samples=max_samples,
        max_per_class=max_per_class,
        id_col=id_col,
        scores=scores,
        agreement=agreement,
    )
    return lambda df: select_confidence_threshold(df, params, class_thresholds)


def select_confidence_threshold(
    df: DataFrame,
    params: ConfidenceThreshold,
    class_thresholds: Sequence[float | None] | None = None,
    kept_per_class: Observation | None = None,
) -> DataFrame:
    """The rows `params` keeps; `class_thresholds`, when given, replaces `params.threshold`
    (and is required when that is auto). `kept_per_class` observes, in the same scan, how many
    rows of each predicted class pass the threshold before the caps (`kept_counts` reads it).
    """
    scored = df.transform(with_pseudo_labels(params.scores))
    if params.is_auto and class_thresholds is None:
        raise SelectionParamError(
            "threshold",
            "is 'auto': fit the per-class thresholds on a validation set "
            "(fit_class_thresholds) and pass them",
        )
    threshold: Column
    if class_thresholds is not None:
        threshold = _class_threshold(class_thresholds)
        fitted = [t for t in class_thresholds if t is not None]
        lowest = min(fitted, default=1.0)
    else:
        lowest = float(params.threshold)
        threshold = F.lit(lowest)
    kept = scored.filter(F.col(CONFIDENCE) >= threshold)
    if params.agreement:
        committee = params.scores.committee(df)
        if committee is None:
            raise SelectionInputError(
                f"agreement needs a committee, but the input has no member columns "
                f"'{params.scores.members}<m>_class_<c>' (ScoreSpec(members=...))"
            )
        kept = kept.filter(committee_agreement(committee, df, threshold))
    if kept_per_class is not None:
        kept = observe_once(kept, kept_per_class, *_class_counts(len(params.scores.columns(df))))
    order = _order(df, params.id_col)
    if params.max_per_class > 0:
        top = _top_per_class(kept, order, params.max_per_class)
        cap = params.max_samples or params.max_per_class * len(params.scores.columns(df))
        ranked = rank_top_n(top, order, cap)
    elif params.max_samples > 0:
        ranked = rank_top_n(kept, order, params.max_samples)
    else:
        ranked = rank_all(kept, order, _confidence_bucket(lowest))
    return _finish(ranked, df.columns)


def _class_counts(num_classes: int) -> list[Column]:
    # One count per class, each a comparison of an int: cheap beside the scores themselves.
    label = F.col(PSEUDO_LABEL)
    return [F.count(F.when(label == c, 1)).alias(f"c{c}") for c in range(num_classes)]


def kept_counts(observation: Observation, num_classes: int) -> list[int] | None:
    """Rows of each predicted class that passed the threshold, after the selection ran; None
    when Spark reported no metrics (it does not for some cached plans that keep no row) or
    counted some rows twice (tasks that ran again after their executor was lost)."""
    got = observed_once(observation)
    if got is None:
        return None
    return [int(got[f"c{c}"]) for c in range(num_classes)]


def _class_threshold(thresholds: Sequence[float | None]) -> Column:
    """The row's predicted class's threshold: one array lookup, whatever C is; null (no row
    passes) for a class without one."""
    values = [F.lit(None).cast("double") if t is None else F.lit(float(t)) for t in thresholds]
    return F.element_at(F.array(*values), F.col(PSEUDO_LABEL) + 1)


def _top_per_class(scored: DataFrame, order: list[Column], k: int) -> DataFrame:
    """The `k` first rows of each predicted class in `order`.

    Spark 3.5 plans `row_number() <= k` as a partial WindowGroupLimit before the shuffle,
    so each task ships at most k rows per class (while k <= windowGroupLimitThreshold).
    Inside a persisted plan Spark does not coalesce that shuffle's partitions, and at most C of
    spark.sql.shuffle.partitions hold rows: one task per core reads them all.
    """
    window = Window.partitionBy(PSEUDO_LABEL).orderBy(*order)
    in_class = F.row_number().over(window)
    top = scored.withColumn("_class_rank", in_class).filter(F.col("_class_rank") <= k)
    cores = scored.sparkSession.sparkContext.defaultParallelism
    return top.drop("_class_rank").coalesce(max(1, cores))


def _confidence_bucket(threshold: float) -> Column:
    """Kept rows' confidence in [threshold, 1] cut into RANK_BUCKETS bins, most confident first.

    Values outside [0, 1] fail the data checks later; clipping keeps them ranked until then.
    """
    width = max(1.0 - threshold, 1e-12)
    raw = F.floor((F.lit(1.0) - F.col(CONFIDENCE)) / F.lit(width) * F.lit(RANK_BUCKETS))
    return F.greatest(F.lit(0), F.least(F.lit(RANK_BUCKETS - 1), raw.cast("int")))


def top_k_per_class(
    k: int = TopKPerClass.k,
    max_samples: int = TopKPerClass.max_samples,
    *,
    id_col: str = TopKPerClass.id_col,
    scores: ScoreSpec = TopKPerClass.scores,
) -> Transform:
    """For each predicted class its `k` most confident rows; `max_samples` > 0 caps the total."""
    params = TopKPerClass(k=k, max_samples=max_samples, id_col=id_col, scores=scores)
    return lambda df: select_top_k_per_class(df, params)


def select_top_k_per_class(df: DataFrame, params: TopKPerClass) -> DataFrame:
    scored = df.transform(with_pseudo_labels(params.scores))
    order = _order(df, params.id_col)
    top = _top_per_class(scored, order, params.k)
    cap = (
        params.max_samples if params.max_samples > 0 else params.k * len(params.scores.columns(df))
    )
    return _finish(rank_top_n(top, order, cap), df.columns)
