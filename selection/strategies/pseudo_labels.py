"""Semi-supervised strategies: choose confident predictions to use as pseudo-labels."""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from selection.engine.committee import agreement as committee_agreement
from selection.engine.ranking import RANK_BUCKETS, rank_all, rank_top_n
from selection.engine.scores import ScoreSpec, confidence, pseudo_label
from selection.engine.values import ascending_id
from selection.errors import SelectionInputError, SelectionParamError
from selection.names import (
    CONFIDENCE,
    DATA_SOURCE,
    DATA_SOURCE_SSL,
    PSEUDO_LABEL,
    SELECTION_RANK,
    Strategy,
)
from selection.params import PseudoLabelParams, finite, param
from selection.strategies.result import Transform


@dataclass(frozen=True, kw_only=True)
class ConfidenceThreshold(PseudoLabelParams):
    """Rows whose confidence (max probability) is at least `threshold`."""

    strategy = Strategy.CONFIDENCE_THRESHOLD
    threshold: float = param(0.9, "minimum confidence, in [0.5, 1]")
    agreement: bool = param(
        False,
        "committee: only rows where every member predicts the same class at >= the threshold",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        finite("threshold", self.threshold)
        if not 0.5 <= self.threshold <= 1.0:
            raise SelectionParamError("threshold", "is outside [0.5, 1.0]", self.threshold)


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
    threshold: float = ConfidenceThreshold.threshold,
    max_samples: int = ConfidenceThreshold.max_samples,
    *,
    id_col: str = ConfidenceThreshold.id_col,
    scores: ScoreSpec = ConfidenceThreshold.scores,
    agreement: bool = ConfidenceThreshold.agreement,
) -> Transform:
    """Rows whose confidence is at least `threshold`; with `max_samples` > 0, the most confident.

    Without a cap the size of the selection is not known in advance: the transform then runs a
    Spark job when applied (one scan of the input, the kept rows persisted) and ranks them in one
    task when they are few, or by a distributed sort when they are many.
    """
    params = ConfidenceThreshold(
        threshold=threshold,
        max_samples=max_samples,
        id_col=id_col,
        scores=scores,
        agreement=agreement,
    )
    return lambda df: select_confidence_threshold(df, params)


def select_confidence_threshold(df: DataFrame, params: ConfidenceThreshold) -> DataFrame:
    scored = df.transform(with_pseudo_labels(params.scores))
    kept = scored.filter(F.col(CONFIDENCE) >= F.lit(float(params.threshold)))
    if params.agreement:
        committee = params.scores.committee(df)
        if committee is None:
            raise SelectionInputError(
                f"agreement needs a committee, but the input has no member columns "
                f"'{params.scores.members}<m>_class_<c>' (ScoreSpec(members=...))"
            )
        kept = kept.filter(committee_agreement(committee, df, float(params.threshold)))
    if params.max_samples > 0:
        ranked = rank_top_n(kept, _order(df, params.id_col), params.max_samples)
    else:
        ranked = rank_all(kept, _order(df, params.id_col), _confidence_bucket(params.threshold))
    return _finish(ranked, df.columns)


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
    # Spark 3.5 plans `row_number() <= k` as a partial WindowGroupLimit before the shuffle,
    # so each task ships at most k rows per class (while k <= windowGroupLimitThreshold).
    window = Window.partitionBy(PSEUDO_LABEL).orderBy(*order)
    in_class = F.row_number().over(window)
    top = scored.withColumn("_class_rank", in_class).filter(F.col("_class_rank") <= params.k)
    top = top.drop("_class_rank")
    cap = (
        params.max_samples if params.max_samples > 0 else params.k * len(params.scores.columns(df))
    )
    return _finish(rank_top_n(top, order, cap), df.columns)
