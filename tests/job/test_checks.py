from __future__ import annotations

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from selection.engine.scores import ScoreSpec
from selection.errors import SelectionInputError
from selection.job.checks import DataChecks, check_schema, duplicate_ids, raise_on_duplicates


def _checks(df: DataFrame, normalize: bool = False) -> DataChecks:
    spec = ScoreSpec(normalize=normalize)
    return DataChecks(
        id_field="id",
        score_names=spec.columns(df),
        raw_scores=spec.raw(df),
        tolerance=0.001,
        normalize=normalize,
    )


def _verify(spark: SparkSession, rows: list[tuple], normalize: bool = False) -> int:
    df = spark.createDataFrame(rows, "id string, prob_class_0 double, prob_class_1 double")
    checks = _checks(df, normalize)
    checks.attach(df).agg(F.count(F.lit(1))).collect()
    return checks.verify()


def test_clean_rows_pass_and_are_counted(spark: SparkSession) -> None:
    assert _verify(spark, [("a", 0.3, 0.7), ("b", 1.0, 0.0)]) == 2


@pytest.mark.parametrize(
    ("rows", "fragment"),
    [
        ([("a", 0.5, 0.5), (None, 0.5, 0.5)], "1 row(s) have an empty id"),
        ([("a", 0.5, None), ("b", float("nan"), 0.5)], "2 row(s) have a null, NaN or infinite"),
        ([("a", 0.5, 0.5), ("z", float("inf"), 0.0)], "e.g. id 'z'"),
        ([("a", -0.1, 1.1)], "score outside [0, 1]"),
        ([("a", 0.5, 0.6), ("b", 0.2, 0.7)], "2 row(s) have probabilities whose sum is off 1"),
    ],
)
def test_bad_rows_are_counted_and_shown(
    spark: SparkSession, rows: list[tuple], fragment: str
) -> None:
    with pytest.raises(SelectionInputError) as info:
        _verify(spark, rows)
    assert fragment in str(info.value)


def test_normalize_accepts_any_positive_sum_but_not_zero(spark: SparkSession) -> None:
    assert _verify(spark, [("a", 0.2, 0.6)], normalize=True) == 1
    with pytest.raises(SelectionInputError, match="summing to 0"):
        _verify(spark, [("a", 0.0, 0.0)], normalize=True)


def test_schema_names_the_missing_or_clashing_column(spark: SparkSession) -> None:
    df = spark.createDataFrame([(1, 0.5)], "key long, confidence double")
    with pytest.raises(
        SelectionInputError, match=r"id column 'id' .* columns are: key, confidence"
    ):
        check_schema(df, id_field="id", label_field="")
    with pytest.raises(SelectionInputError, match="already has column 'confidence'"):
        check_schema(df, id_field="key", label_field="")
    with pytest.raises(SelectionInputError, match="label column 'y'"):
        check_schema(df, id_field="key", label_field="y")


def test_duplicate_ids_are_counted_with_an_example(spark: SparkSession) -> None:
    df = spark.createDataFrame([("b",), ("a",), ("b",), ("c",), ("c",)], "id string")
    count, example = duplicate_ids(df, "id")
    assert (count, example) == (2, "b")
    with pytest.raises(SelectionInputError, match="2 id\\(s\\) occur more than once in the input"):
        raise_on_duplicates(count, example, "id", "the input")
