"""Semi-supervised strategies: choose confident predictions to use as pseudo-labels."""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from selection.engine.ranking import rank_all, rank_top_n
from selection.engine.scores import ScoreSpec, confidence, pseudo_label
from selection.engine.values import ascending_id
from selection.names import CONFIDENCE, DATA_SOURCE, DATA_SOURCE_SSL, PSEUDO_LABEL, SELECTION_RANK

Transform = Callable[[DataFrame], DataFrame]


def with_pseudo_labels(scores: ScoreSpec = ScoreSpec()) -> Transform:
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
    threshold: float = 0.9,
    max_samples: int = 0,
    *,
    id_col: str = "id",
    scores: ScoreSpec = ScoreSpec(),
) -> Transform:
    """Rows whose confidence is at least `threshold`; with `max_samples` > 0, the most confident.

    Without a cap the size of the selection is not known in advance: the transform then runs a
    Spark job when applied (one scan of the input, the kept rows persisted) and ranks them in one
    task when they are few, or by a distributed sort when they are many.
    """

    def transform(df: DataFrame) -> DataFrame:
        scored = df.transform(with_pseudo_labels(scores))
        kept = scored.filter(F.col(CONFIDENCE) >= F.lit(float(threshold)))
        if max_samples > 0:
            ranked = rank_top_n(kept, _order(df, id_col), max_samples)
        else:
            ranked = rank_all(kept, _order(df, id_col))
        return _finish(ranked, df.columns)

    return transform


def top_k_per_class(
    k: int = 100,
    max_samples: int = 0,
    *,
    id_col: str = "id",
    scores: ScoreSpec = ScoreSpec(),
) -> Transform:
    """For each predicted class its `k` most confident rows; `max_samples` > 0 caps the total."""

    def transform(df: DataFrame) -> DataFrame:
        scored = df.transform(with_pseudo_labels(scores))
        # Spark 3.5 plans `row_number() <= k` as a partial WindowGroupLimit before the shuffle,
        # so each task ships at most k rows per class (while k <= windowGroupLimitThreshold).
        window = Window.partitionBy(PSEUDO_LABEL).orderBy(*_order(df, id_col))
        in_class = F.row_number().over(window)
        top = scored.withColumn("_class_rank", in_class).filter(F.col("_class_rank") <= k)
        top = top.drop("_class_rank")
        cap = max_samples if max_samples > 0 else k * len(scores.columns(df))
        return _finish(rank_top_n(top, _order(df, id_col), cap), df.columns)

    return transform
