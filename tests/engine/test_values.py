"""Numbers kept as text, ids as identifiers, and folds that stay shallow."""

from __future__ import annotations

from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, LongType, StringType, StructField

from selection.engine.values import (
    NUMERIC_TEXT,
    ascending_id,
    balanced,
    id_hash,
    is_numeric,
    not_a_number,
)


def _depth(tree: Any) -> int:
    return 1 + max(_depth(t) for t in tree) if isinstance(tree, tuple) else 0


def test_balanced_folds_are_log_deep_and_keep_every_leaf() -> None:
    tree = balanced(list(range(1000)), lambda a, b: (a, b))  # type: ignore[arg-type, return-value]
    assert _depth(tree) == 10

    def leaves(t: Any) -> list[int]:
        return [x for s in t for x in leaves(s)] if isinstance(t, tuple) else [t]

    assert leaves(tree) == list(range(1000))


def test_numeric_means_a_number_type_or_marked_text() -> None:
    assert is_numeric(StructField("a", DoubleType()))
    assert is_numeric(StructField("a", LongType()))
    assert is_numeric(StructField("a", StringType(), metadata={NUMERIC_TEXT: True}))
    assert not is_numeric(StructField("a", StringType()))


def test_text_that_is_not_a_number(spark: SparkSession) -> None:
    values = ["1e3", " 7", "+1", "-0", "NaN", "Infinity", "n/a", "1,5", "", None]
    df = spark.createDataFrame([(v,) for v in values], "v string")
    got = [r["bad"] for r in df.select(not_a_number(F.col("v")).alias("bad")).collect()]
    # Spark reads an empty CSV field as null; an empty string here is text that is no number.
    assert got == [False] * 6 + [True, True, True, False]


def test_text_ids_written_as_integers_sort_by_value_then_the_rest_as_text(
    spark: SparkSession,
) -> None:
    ids = ["10", "9", "007", "7", "-3", "abc", " 7", "+1", "1e3", "98765432109876543210", "0"]
    df = spark.createDataFrame([(i,) for i in ids], "id string")
    got = [r["id"] for r in df.orderBy(*ascending_id(df, "id")).collect()]
    plain = ["-3", "0", "7", "9", "10", "98765432109876543210"]
    assert got == plain + sorted({" 7", "+1", "007", "1e3", "abc"})


def test_numeric_ids_sort_as_they_are(spark: SparkSession) -> None:
    df = spark.createDataFrame([(10,), (9,), (-3,)], "id long")
    assert len(ascending_id(df, "id")) == 1
    assert [r["id"] for r in df.orderBy(*ascending_id(df, "id")).collect()] == [-3, 9, 10]


def test_an_id_hashes_the_same_as_bigint_and_as_text(spark: SparkSession) -> None:
    numbers = spark.createDataFrame([(7,), (-12,), (9223372036854775807,)], "id long")
    text = spark.createDataFrame(
        [("7",), ("-12",), ("9223372036854775807",), ("007",), ("98765432109876543210",)],
        "id string",
    )
    long_keys = [r["k"] for r in numbers.select(id_hash(numbers, "id", 42).alias("k")).collect()]
    text_keys = [r["k"] for r in text.select(id_hash(text, "id", 42).alias("k")).collect()]
    assert text_keys[:3] == long_keys
    assert text_keys[3] != long_keys[0]  # '007' is another id than 7
    assert text_keys[4] is not None
    other_seed = text.select(id_hash(text, "id", 43).alias("k")).first()
    assert other_seed is not None and other_seed["k"] != text_keys[0]


def test_id_hashes_are_64_bit_for_every_id_type(spark: SparkSession) -> None:
    # A 32-bit hash would collide for certain at 10^8 rows (n^2 / 2^33 pairs); 64 bits give
    # about n^2 / 2^65, and the code orders equal hashes by id (see test_blocks).
    from selection.strategies.random_batch import random_key

    rows = [(i, i, str(i)) for i in range(2000)]
    df = spark.createDataFrame(rows, "a int, b long, c string")
    keys = df.select(
        *[id_hash(df, c, 42).alias(f"h{c}") for c in "abc"],
        *[random_key(df, c, 42).alias(f"r{c}") for c in "abc"],
    )
    assert all(isinstance(f.dataType, LongType) for f in keys.schema.fields)
    got = keys.collect()
    assert all(len(set(r)) == 1 for r in got)  # the same key for 7, 7L and '7'
    assert len({r[0] for r in got}) == 2000
    assert max(abs(r[0]) for r in got) > 2**40  # the values use the 64 bits
