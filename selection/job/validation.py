"""The validation set: predictions of the same model on rows whose true label is known.

Either `--validation-data` (the contract's optional validation_data input, read like the input:
the same id and score columns plus LABEL_FIELD), or, without it, the input rows whose LABEL_FIELD
is not null; those are labelled already, so the job never selects them. Only the id, the label
and the score columns are kept, as doubles, persisted on disk: the calibration and threshold
fits read that projection several times, never the source files again. Its checks (labels are
class indices, scores are probabilities) are one aggregate, which also materialises it.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from selection.engine.scores import ScoreSpec
from selection.engine.values import column, total
from selection.errors import SelectionInputError
from selection.job.io import read_predictions, redact

FROM_INPUT = "input rows with a label"


@dataclass(frozen=True)
class ValidationSet:
    """`df`: id (text), label and score columns (doubles), persisted; `rows`: its row count."""

    df: DataFrame
    label_col: str
    source: str
    rows: int

    def unpersist(self) -> None:
        self.df.unpersist()


def read_validation(
    spark: SparkSession,
    path: str,
    *,
    id_field: str,
    label_field: str,
    scores: ScoreSpec,
    num_classes: int,
    tolerance: float,
) -> ValidationSet:
    """The validation set of `--validation-data`: every row must have a label."""
    shown = redact(path)
    try:
        df = read_predictions(spark, path, id_field=id_field, label_field=label_field).df
    except SelectionInputError as exc:
        raise SelectionInputError(f"validation data: {exc}") from None
    if id_field not in df.columns:
        raise SelectionInputError(
            f"validation data {shown!r} has no id column '{id_field}' (ID_FIELD)"
        )
    if label_field not in df.columns:
        raise SelectionInputError(
            f"validation data {shown!r} has no label column '{label_field}' (LABEL_FIELD); "
            "it needs the true label of every row"
        )
    try:
        names = scores.columns(df)
    except SelectionInputError as exc:
        raise SelectionInputError(f"validation data {shown!r}: {exc}") from None
    if len(names) != num_classes:
        raise SelectionInputError(
            f"validation data {shown!r} has {len(names)} score columns, the input "
            f"{num_classes}; both must be predictions of the same model"
        )
    return _prepare(df, id_field, label_field, scores, num_classes, tolerance, shown)


def validation_from_input(
    df: DataFrame,
    *,
    id_field: str,
    label_field: str,
    scores: ScoreSpec,
    num_classes: int,
    tolerance: float,
) -> ValidationSet:
    """The input rows whose label is not null (the caller leaves them out of the pool)."""
    labelled = df.filter(column(label_field).isNotNull())
    return _prepare(labelled, id_field, label_field, scores, num_classes, tolerance, FROM_INPUT)


def _prepare(
    df: DataFrame,
    id_field: str,
    label_field: str,
    scores: ScoreSpec,
    num_classes: int,
    tolerance: float,
    source: str,
) -> ValidationSet:
    names = scores.columns(df)
    keep = [column(id_field).cast("string").alias(id_field), column(label_field).alias(label_field)]
    keep += [column(n).cast("double").alias(n) for n in names]
    projected = df.select(*keep).persist(StorageLevel.DISK_ONLY)
    raw = scores.raw(projected)
    text = column(label_field).cast("string")
    value = column(label_field).cast("double")
    bad_label = (
        value.isNull()
        | F.isnan(value)
        | (value != F.floor(value))
        | (value < 0)
        | (value > num_classes - 1)
    )
    row_sum = total(raw)
    sum_ok = row_sum > 0 if scores.normalize else F.abs(row_sum - 1.0) <= tolerance
    in_range = F.forall(F.array(*raw), lambda p: p.isNotNull() & ~F.isnan(p) & (p >= 0) & (p <= 1))
    bad_score = ~F.coalesce(in_range & sum_ok, F.lit(False))
    ident = F.col(id_field)
    row = projected.agg(
        F.count(F.lit(1)).alias("rows"),
        F.count(F.when(bad_label, 1)).alias("bad_label"),
        F.min_by(F.struct(ident.alias("id"), text.alias("v")), F.when(bad_label, ident)).alias(
            "label_example"
        ),
        F.count(F.when(bad_score, 1)).alias("bad_score"),
        F.min(F.when(bad_score, ident)).alias("score_example"),
    ).first()
    assert row is not None
    where = "validation row(s)" if source == FROM_INPUT else f"row(s) of validation data {source!r}"
    if not row["rows"]:
        projected.unpersist()
        if source == FROM_INPUT:
            raise SelectionInputError(
                f"no input row has a label in '{label_field}' (LABEL_FIELD) to fit on; "
                "pass --validation-data with labelled predictions"
            )
        raise SelectionInputError(f"validation data {source!r} holds no rows")
    if row["bad_label"]:
        projected.unpersist()
        example = row["label_example"]
        raise SelectionInputError(
            f"{row['bad_label']} {where} have a label in '{label_field}' that is not a class "
            f"index 0..{num_classes - 1}, e.g. {example['v']!r} (id {example['id']!r}); "
            "labels must be the integer class of the score columns"
        )
    if row["bad_score"]:
        projected.unpersist()
        rule = "sum to 0" if scores.normalize else f"sum off 1 by more than {tolerance}"
        raise SelectionInputError(
            f"{row['bad_score']} {where} have a null, NaN or out-of-range score in "
            f"{', '.join(names)}, or scores that {rule}, e.g. id {row['score_example']!r}"
        )
    return ValidationSet(projected, label_field, source, int(row["rows"]))
