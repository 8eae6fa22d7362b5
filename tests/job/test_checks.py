from __future__ import annotations

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from selection.engine.scores import ScoreSpec
from selection.engine.values import NUMERIC_TEXT
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


@pytest.mark.parametrize(
    ("rows", "schema"),
    [
        ([("é",), ("z",), ("é",), ("10",), ("9",), ("10",), (None,), (None,)], "id string"),
        ([(3,), (12,), (3,), (12,), (7,)], "id long"),
        ([(0.0,), (-0.0,), (1.5,)], "id double"),
    ],
)
def test_driver_and_shuffle_counts_of_duplicate_ids_agree(
    spark: SparkSession, rows: list[tuple[object]], schema: str
) -> None:
    df = spark.createDataFrame(rows, schema)
    on_driver = duplicate_ids(df, "id", rows=len(rows))
    shuffled = duplicate_ids(df, "id")
    assert on_driver == shuffled
    assert on_driver[0] > 0


def _jobs(spark: SparkSession) -> int:
    return len(spark.sparkContext.statusTracker().getJobIdsForGroup(None))


def test_clean_rows_cost_no_scan_of_their_own(spark: SparkSession) -> None:
    df = spark.createDataFrame(
        [("a", 0.3, 0.7), ("b", 1.0, 0.0)], "id string, prob_class_0 double, prob_class_1 double"
    )
    checks = _checks(df)
    checks.attach(df).agg(F.count(F.lit(1))).collect()
    before = _jobs(spark)
    assert checks.verify() == 2
    assert _jobs(spark) == before  # the two observed aggregates said it all


def test_a_flagged_row_that_breaks_no_rule_passes(spark: SparkSession) -> None:
    # Finite features whose sum overflows: the cheap flag fires, the exact count clears it.
    df = spark.createDataFrame(
        [("a", 0.5, 0.5, 1.7e308, 1.7e308)],
        "id string, prob_class_0 double, prob_class_1 double, f0 double, f1 double",
    )
    spec = ScoreSpec()
    checks = DataChecks(
        id_field="id",
        score_names=spec.columns(df),
        raw_scores=spec.raw(df),
        tolerance=0.001,
        normalize=False,
        feature_columns=["f0", "f1"],
    )
    checks.attach(df).agg(F.count(F.lit(1))).collect()
    assert checks.verify() == 1


def _text(spark: SparkSession, rows: list[tuple], names: list[str]) -> DataFrame:
    numeric = {NUMERIC_TEXT: True}
    schema = StructType(
        [StructField(n, StringType(), True, {} if n == "id" else numeric) for n in names]
    )
    return spark.createDataFrame(rows, schema)


def test_text_that_is_no_number_is_counted_with_its_column_id_and_line(
    spark: SparkSession,
) -> None:
    names = ["id", "prob_class_0", "prob_class_1", "f0"]
    rows = [("1", "0.5", "0.5", "1e3"), ("b", "0.5", "0.5", "x"), ("a", "0.2", "NA", "1")]
    df = _text(spark, rows, names)
    spec = ScoreSpec()
    checks = DataChecks(
        id_field="id",
        score_names=spec.columns(df),
        raw_scores=spec.raw(df),
        tolerance=0.001,
        normalize=False,
        feature_columns=["f0"],
        separator="\t",
    )
    checks.attach(df).agg(F.count(F.lit(1))).collect()
    with pytest.raises(SelectionInputError) as info:
        checks.verify()
    message = str(info.value)
    assert message.startswith("2 input line(s) do not parse")
    assert "column 'prob_class_1' holds 'NA', which is not a number" in message
    assert "e.g. id 'a' in line 'a\\t0.2\\tNA\\t1'" in message


def test_a_thousand_score_columns_are_checked_exactly(spark: SparkSession) -> None:
    classes = 1000
    good = [1.0 / classes] * classes
    bad = [2.0] + [0.0] * (classes - 1)
    df = spark.createDataFrame(
        [("ok", good), ("z", bad), ("y", bad)], "id string, p array<double>"
    ).select("id", *[F.col("p")[c].alias(f"prob_class_{c}") for c in range(classes)])
    checks = _checks(df)
    checks.attach(df).agg(F.count(F.lit(1))).collect()
    with pytest.raises(
        SelectionInputError, match=r"^2 row\(s\) have a score outside \[0, 1\].*'y'"
    ):
        checks.verify()
