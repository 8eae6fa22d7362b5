from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from selection.engine.values import NUMERIC_TEXT
from selection.errors import SelectionConfigError, SelectionInputError
from selection.job.io import MAX_COLUMNS, check_uri, list_data_files, read_predictions, redact


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


HEADER = "id,label,note,f0,prob_class_0,prob_class_1\n"


def _numeric(df: DataFrame) -> list[str]:
    return [f.name for f in df.schema.fields if f.metadata.get(NUMERIC_TEXT)]


def test_csv_columns_are_text_and_numbers_are_marked_from_a_sample(
    spark: SparkSession, tmp_path: Path
) -> None:
    _write(tmp_path / "a.csv", HEADER + "1,0,x,1,0.2,0.8\n2,1,y,2.5,0.6,0.4\n")
    _write(tmp_path / "b.csv", HEADER + "3,1,z,3,1,0\n")
    got = read_predictions(spark, str(tmp_path), id_field="id", label_field="label")
    assert {t for c, t in got.df.dtypes} == {"string"}
    # The id and label are identifiers and targets, never numbers to compute with.
    assert _numeric(got.df) == ["f0", "prob_class_0", "prob_class_1"]
    assert got.corrupt_column == "_corrupt_record"
    rows = got.df.drop("_corrupt_record").collect()
    assert [tuple(r) for r in rows] == [
        ("1", "0", "x", "1", "0.2", "0.8"),
        ("2", "1", "y", "2.5", "0.6", "0.4"),
        ("3", "1", "z", "3", "1", "0"),
    ]
    assert [f.path.rsplit("/", 1)[1] for f in got.files] == ["a.csv", "b.csv"]
    assert got.separator == ","


def test_a_column_with_text_or_nothing_in_the_sample_is_not_numeric(
    spark: SparkSession, tmp_path: Path
) -> None:
    lines = [f"{i},{'n/a' if i == 3 else '1e-3'},,{i}.5,+1" for i in range(1, 6)]
    _write(tmp_path / "a.csv", "id,has_text,empty,late,signed\n" + "\n".join(lines) + "\n")
    df = read_predictions(spark, str(tmp_path / "a.csv"), id_field="id").df
    assert _numeric(df) == ["late", "signed"]


def test_column_names_with_dots_and_backticks_are_names(
    spark: SparkSession, tmp_path: Path
) -> None:
    _write(tmp_path / "a.csv", "id,a.b,x`y,prob_class_0,prob_class_1\n1,0.5,t,0.5,0.5\n")
    df = read_predictions(spark, str(tmp_path / "a.csv"), id_field="id").df
    assert _numeric(df) == ["a.b", "prob_class_0", "prob_class_1"]


def test_text_past_the_sample_is_kept_as_written(spark: SparkSession, tmp_path: Path) -> None:
    numbers = [f"{i},{i / 10_000:.6f}" for i in range(1, 2_500)]
    _write(tmp_path / "a.csv", "id,x\n" + "\n".join([*numbers, "02500,n/a"]) + "\n")
    df = read_predictions(spark, str(tmp_path / "a.csv"), id_field="id").df
    assert _numeric(df) == ["x"]  # the sample holds only numbers
    last = df.filter(F.col("id") == "02500").collect()
    assert [(r["id"], r["x"], r["_corrupt_record"]) for r in last] == [("02500", "n/a", None)]
    assert df.filter(F.col("id") == "1").first()["x"] == "0.000100"  # type: ignore[index]


def test_non_integral_ids_are_read_as_text(spark: SparkSession, tmp_path: Path) -> None:
    _write(tmp_path / "a.csv", "id,prob_class_0,prob_class_1\n007,0.5,0.5\nab-1,0.5,0.5\n")
    df = read_predictions(spark, str(tmp_path / "a.csv"), id_field="id").df
    assert dict(df.dtypes)["id"] == "string"
    assert sorted(r["id"] for r in df.collect()) == ["007", "ab-1"]


def test_tsv_and_gzip_are_recognised(spark: SparkSession, tmp_path: Path) -> None:
    with gzip.open(tmp_path / "part.tsv.gz", "wt") as handle:
        handle.write("id\tprob_class_0\tprob_class_1\n1\t0.5\t0.5\n2\t0.1\t0.9\n")
    got = read_predictions(spark, str(tmp_path), id_field="id")
    assert got.format == "tsv"
    assert got.separator == "\t"
    assert got.df.count() == 2


def test_hidden_files_are_skipped_and_empty_files_warned(
    spark: SparkSession, tmp_path: Path
) -> None:
    _write(tmp_path / "part-0.csv", "id,prob_class_0,prob_class_1\n1,0.5,0.5\n")
    _write(tmp_path / "part-1.csv", "")
    _write(tmp_path / "_SUCCESS", "")
    _write(tmp_path / ".part-0.csv.crc", "junk")
    _write(tmp_path / "_temporary" / "x.csv", "junk")
    files, warnings = list_data_files(spark, str(tmp_path))
    assert [f.path.rsplit("/", 1)[1] for f in files] == ["part-0.csv"]
    assert warnings == ["skipped empty file 'part-1.csv'"]


def test_parquet_directories_are_read(spark: SparkSession, tmp_path: Path) -> None:
    spark.range(5).selectExpr("id", "0.5 AS prob_class_0", "0.5 AS prob_class_1").write.parquet(
        str(tmp_path / "p")
    )
    got = read_predictions(spark, str(tmp_path / "p"), id_field="id")
    assert got.format == "parquet"
    assert got.corrupt_column is None
    assert got.df.count() == 5
    # Parquet keeps its types, decimals included.
    types = dict(got.df.dtypes)
    assert types == {"id": "bigint", "prob_class_0": "decimal(1,1)", "prob_class_1": "decimal(1,1)"}


@pytest.mark.parametrize(
    ("files", "fragment"),
    [
        ({}, "does not exist"),
        ({"a.csv": ""}, "holds no non-empty csv, tsv or parquet file"),
        ({"a.csv": "id\n1\n", "b.json": "{}"}, "unknown format: b.json"),
        ({"a.csv": "id\n1\n", "b.tsv": "id\n1\n"}, "input mixes formats (csv, tsv)"),
    ],
)
def test_unusable_inputs_are_named(
    spark: SparkSession, tmp_path: Path, files: dict[str, str], fragment: str
) -> None:
    root = tmp_path / "in"
    if files:
        for name, text in files.items():
            _write(root / name, text)
    with pytest.raises(SelectionInputError) as info:
        list_data_files(spark, str(root))
    assert fragment in str(info.value)


@pytest.mark.parametrize("uri", ["/data/x", "file:///data/x", "s3://b/k", "s3a://b/k", "rel/x"])
def test_allowed_schemes(uri: str) -> None:
    assert check_uri(uri, "input") == uri


@pytest.mark.parametrize("uri", ["http://example.com/x", "hdfs://nn/x", "gs://b/k", "ftp://h/x"])
def test_other_schemes_are_refused(uri: str) -> None:
    with pytest.raises(SelectionConfigError, match="use a local path or file://, s3://, s3a://"):
        check_uri(uri, "input")


def test_redact_strips_credentials() -> None:
    shown = redact("s3a://AKIAEXAMPLE:secretkey@bucket/prefix/data.csv")
    assert shown == "s3a://bucket/prefix/data.csv"
    assert redact("s3://bucket/k") == "s3://bucket/k"


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_inputs_wider_than_the_job_reads_are_refused_up_front(
    spark: SparkSession, tmp_path: Path, fmt: str
) -> None:
    names = ["id"] + [f"prob_class_{c}" for c in range(MAX_COLUMNS)]
    if fmt == "csv":
        _write(tmp_path / "a.csv", ",".join(names) + "\n" + ",".join(["1"] * len(names)) + "\n")
    else:
        pq.write_table(pa.table({n: [0.5] for n in names}), str(tmp_path / "a.parquet"))
    with pytest.raises(
        SelectionInputError, match="the input has 5,001 columns, more than the 5,000"
    ):
        read_predictions(spark, str(tmp_path), id_field="id")
