"""random: a seeded uniform batch, the same ids for a seed on any layout, exact against XXH64."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.active_sample_selection import main
from selection import Random, SelectionParamError, random_batch, select
from selection.names import DATA_SOURCE, SELECTION_RANK, UNCERTAINTY_SCORE
from tests.helpers import (
    prediction_rows,
    read_metadata,
    read_selected,
    write_csv_parts,
    write_parquet_parts,
)
from tests.references import margin, random_reference, round_robin, spark_id_key

SCHEMA = "id long, prob_class_0 double, prob_class_1 double, prob_class_2 double"


def _frame(spark: SparkSession, n: int, seed: int = 3) -> tuple[list[tuple[Any, ...]], DataFrame]:
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(3), size=n)
    rows = [(int(i * 7 + 1), *map(float, probs[i])) for i in range(n)]
    return rows, spark.createDataFrame(rows, SCHEMA)


def test_the_reference_hash_is_sparks(spark: SparkSession) -> None:
    ids = [0, 1, -1, 7, 2**40 + 3, -(2**62)]
    for seed in (0, 42, 2**31 + 5):
        got = spark.createDataFrame([(i,) for i in ids], "id long").select(
            F.xxhash64(F.col("id"), F.lit(seed)).alias("h")
        )
        assert [r["h"] for r in got.collect()] == [spark_id_key(i, seed) for i in ids]


@pytest.mark.parametrize("seed", [0, 42, 12345])
def test_batch_is_the_reference_draw(spark: SparkSession, seed: int) -> None:
    rows, df = _frame(spark, 60)
    picked = df.transform(random_batch(9, seed=seed)).collect()
    expected = random_reference([r[0] for r in rows], 9, seed)
    assert [r["id"] for r in picked] == expected
    assert [r[SELECTION_RANK] for r in picked] == list(range(1, 10))
    by_id = {r[0]: np.array(r[1:]) for r in rows}
    for r in picked:
        assert r[DATA_SOURCE] == "active_learning"
        assert r[UNCERTAINTY_SCORE] == pytest.approx(margin(by_id[r["id"]][None, :])[0], abs=1e-12)


def test_same_ids_whatever_the_partitioning_and_id_type(spark: SparkSession) -> None:
    _, df = _frame(spark, 80)
    params = Random(batch_size=11, seed=5)
    once = [r["id"] for r in select(df.coalesce(1), params).rows.collect()]
    many = [r["id"] for r in select(df.repartition(7), params).rows.collect()]
    as_int = df.withColumn("id", F.col("id").cast("int"))
    as_text = df.withColumn("id", F.col("id").cast("string"))
    assert once == many
    assert [r["id"] for r in select(as_int, params).rows.collect()] == once
    assert [int(r["id"]) for r in select(as_text, params).rows.collect()] == once


def test_seeds_draw_different_batches_and_labelled_rows_are_excluded(
    spark: SparkSession,
) -> None:
    rows, df = _frame(spark, 50)
    a = {r["id"] for r in df.transform(random_batch(10, seed=1)).collect()}
    b = {r["id"] for r in df.transform(random_batch(10, seed=2)).collect()}
    assert a != b
    labeled = df.filter(F.col("id").isin(sorted(a))).select("id")
    again = select(df, Random(batch_size=10, seed=1), labeled=labeled).rows.collect()
    pool = [r[0] for r in rows if r[0] not in a]
    assert [r["id"] for r in again] == random_reference(pool, 10, 1)


def test_class_balanced_batch_is_the_round_robin_reference(spark: SparkSession) -> None:
    rows, df = _frame(spark, 40, seed=9)
    selected = select(df, Random(batch_size=13, seed=4, class_balance=True))
    got = [r["id"] for r in selected.rows.collect()]
    probs = {r[0]: np.array(r[1:]) for r in rows}
    expected = round_robin(
        rows,
        13,
        klass=lambda r: int(np.argmax(probs[r[0]])),
        key=lambda r: (spark_id_key(r[0], 4), r[0]),
        ident=lambda r: r[0],
    )
    assert got == expected
    counts = np.bincount([int(np.argmax(probs[i])) for i in got], minlength=3)
    assert counts.max() - counts.min() <= 1 or counts.min() == 0
    assert selected.summary.metadata()["class_balance"]["pool_per_class"] == {
        str(c): n
        for c, n in enumerate(np.bincount([int(np.argmax(p)) for p in probs.values()], minlength=3))
        if n
    }


def test_batch_size_is_checked() -> None:
    with pytest.raises(SelectionParamError, match="batch_size=0 must be >= 1"):
        Random(batch_size=0)


def test_job_warns_when_the_batch_exceeds_the_pool_and_csv_matches_parquet(
    spark: SparkSession, tmp_path: Path
) -> None:
    rows = prediction_rows(40, classes=3, seed=4)
    env = {"SELECTION_STRATEGY": "random", "BATCH_SIZE": "25", "RANDOM_SEED": "8"}
    chosen = {}
    for fmt in ("csv", "parquet"):
        if fmt == "csv":
            source = write_csv_parts(tmp_path / fmt / "in", rows, parts=3)
        else:
            source = write_parquet_parts(spark, tmp_path / fmt / "in", rows, parts=2)
        out, meta = tmp_path / fmt / "out", tmp_path / fmt / "meta"
        argv = ["--input", str(source), "--output", str(out), "--metadata-output", str(meta)]
        assert main(argv, env, spark) == 0
        chosen[fmt] = [int(r["id"]) for r in read_selected(spark, out)]
    assert chosen["csv"] == chosen["parquet"] == random_reference(list(range(40)), 25, 8)
    big = {**env, "BATCH_SIZE": "100"}
    out, meta = tmp_path / "big" / "out", tmp_path / "big" / "meta"
    argv = ["--input", str(tmp_path / "csv" / "in"), "--output", str(out)]
    assert main([*argv, "--metadata-output", str(meta)], big, spark) == 0
    document = read_metadata(meta)
    assert document["selected_rows"] == 40
    assert any("BATCH_SIZE=100 but only 40 selectable rows" in w for w in document["warnings"])
    assert document["parameters"]["class_balance"] is False
