"""Reading prediction sets (CSV, TSV, Parquet) from local paths or URIs through Hadoop's FileSystem.

CSV and TSV are read with an explicit schema so that Spark never silently turns a bad value
into null: the schema comes from a small sample of the first file, every value that does not
fit it lands in a corrupt-record column, and the job's checks count those rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import (
    DataType,
    DoubleType,
    LongType,
    NumericType,
    StringType,
    StructField,
    StructType,
)

from selection.errors import SelectionConfigError, SelectionInputError
from selection.names import ALLOWED_URI_SCHEMES

CORRUPT_RECORD = "_corrupt_record"
_SAMPLE_LINES = 2000
_FORMATS_BY_SUFFIX: dict[str, str] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_COMPRESSION_SUFFIXES = (".gz", ".bz2", ".snappy", ".zst", ".lz4", ".deflate")


@dataclass(frozen=True)
class DataFile:
    path: str
    size: int
    format: str


@dataclass(frozen=True)
class Predictions:
    """The input as read: `df` with a corrupt-record column for CSV/TSV, plus what was skipped."""

    df: DataFrame
    format: str
    files: tuple[DataFile, ...]
    warnings: tuple[str, ...]

    @property
    def corrupt_column(self) -> str | None:
        return CORRUPT_RECORD if CORRUPT_RECORD in self.df.columns else None


def check_uri(path: str, what: str) -> str:
    """Refuse schemes other than local, file, s3 and s3a; return the path unchanged."""
    if not path:
        raise SelectionConfigError(f"{what} path is empty")
    scheme = urlparse(path).scheme.lower()
    # A Windows drive letter parses as a one-letter scheme; treat it as local.
    if len(scheme) == 1:
        scheme = ""
    if scheme not in ALLOWED_URI_SCHEMES:
        allowed = ", ".join(s + "://" for s in ALLOWED_URI_SCHEMES if s)
        raise SelectionConfigError(
            f"{what} path {redact(path)!r} has scheme '{scheme}'; use a local path or {allowed}"
        )
    return path


def redact(path: str) -> str:
    """A path fit for logs: user info (keys) stripped from URIs."""
    parsed = urlparse(path)
    if parsed.username or parsed.password:
        return parsed._replace(netloc=parsed.hostname or "").geturl()
    return path


def hadoop_fs(spark: SparkSession, path: str) -> tuple[Any, Any]:
    """(FileSystem, Path) for `path`, so s3a, file and local paths share one code path."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    jpath = jvm.org.apache.hadoop.fs.Path(path)
    conf = spark.sparkContext._jsc.hadoopConfiguration()  # type: ignore[union-attr]
    return jpath.getFileSystem(conf), jpath


def _is_hidden(name: str) -> bool:
    return name.startswith(("_", "."))


def _format_of(name: str) -> str | None:
    lowered = name.lower()
    for suffix in _COMPRESSION_SUFFIXES:
        if lowered.endswith(suffix) and not lowered.endswith(".parquet" + suffix):
            lowered = lowered[: -len(suffix)]
            break
    for suffix, fmt in _FORMATS_BY_SUFFIX.items():
        if lowered.endswith(suffix):
            return fmt
    return None


def list_data_files(spark: SparkSession, path: str) -> tuple[list[DataFile], list[str]]:
    """Data files under `path` (a file or a directory, recursively) and warnings for skipped ones."""
    fs, jpath = hadoop_fs(spark, path)
    shown = redact(path)
    if not fs.exists(jpath):
        raise SelectionInputError(f"input path {shown!r} does not exist")
    files: list[DataFile] = []
    warnings: list[str] = []
    unknown: list[str] = []
    iterator = fs.listFiles(jpath, True)
    while iterator.hasNext():
        status = iterator.next()
        file_path = status.getPath()
        relative = str(file_path.toString())[len(str(fs.makeQualified(jpath).toString())) :]
        if any(_is_hidden(part) for part in relative.strip("/").split("/") if part) or (
            not relative and _is_hidden(file_path.getName())
        ):
            continue
        fmt = _format_of(file_path.getName())
        if fmt is None:
            unknown.append(file_path.getName())
            continue
        if status.getLen() == 0:
            warnings.append(f"skipped empty file {file_path.getName()!r}")
            continue
        files.append(DataFile(str(file_path.toString()), int(status.getLen()), fmt))
    if unknown:
        raise SelectionInputError(
            f"input holds files of unknown format: {', '.join(sorted(unknown)[:5])}; "
            "expected .csv, .tsv or .parquet (optionally compressed)"
        )
    if not files:
        raise SelectionInputError(f"input path {shown!r} holds no non-empty csv, tsv or parquet file")
    formats = sorted({f.format for f in files})
    if len(formats) > 1:
        raise SelectionInputError(
            f"input mixes formats ({', '.join(formats)}); put one format under {shown!r}"
        )
    files.sort(key=lambda f: f.path)
    return files, warnings


def read_predictions(
    spark: SparkSession, path: str, *, id_field: str, label_field: str = ""
) -> Predictions:
    """Read every data file under `path` as one DataFrame."""
    check_uri(path, "input")
    files, warnings = list_data_files(spark, path)
    fmt = files[0].format
    paths = [f.path for f in files]
    try:
        if fmt == "parquet":
            df = spark.read.parquet(*paths)
        else:
            df = _read_delimited(spark, paths, "\t" if fmt == "tsv" else ",", id_field, label_field)
    except SelectionInputError:
        raise
    except Exception as exc:  # Spark reports unreadable files as JVM errors; name the input.
        first_line = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc)
        raise SelectionInputError(f"cannot read {fmt} input {redact(path)!r}: {first_line}") from exc
    return Predictions(df=df, format=fmt, files=tuple(files), warnings=tuple(warnings))


def _read_delimited(
    spark: SparkSession, paths: list[str], sep: str, id_field: str, label_field: str
) -> DataFrame:
    schema = _sample_schema(spark, paths[0], sep, id_field, label_field)
    with_corrupt = StructType([*schema.fields, StructField(CORRUPT_RECORD, StringType(), True)])
    return (
        spark.read.schema(with_corrupt)
        .option("header", True)
        .option("sep", sep)
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT_RECORD)
        # Compare each file's header with the schema, so files with other columns fail loudly.
        .option("enforceSchema", False)
        .option("multiLine", False)
        .csv(paths)
    )


def _sample_schema(
    spark: SparkSession, first_file: str, sep: str, id_field: str, label_field: str
) -> StructType:
    """Column types from the first lines of one file, without a pass over the whole input.

    Numeric columns become double (any number parses as one), id and label keep integer types
    when every sampled value is an integer, everything else stays a string so it is written back
    as it was read.
    """
    lines = [r.value for r in spark.read.text(first_file).limit(_SAMPLE_LINES + 1).collect()]
    if not lines or not lines[0].strip():
        raise SelectionInputError(f"{first_file!r} has no header line")
    if len(lines) == 1:
        # A header alone: no types to infer; Spark reads zero rows.
        names = [n.strip().strip('"') for n in lines[0].split(sep)]
        return StructType([StructField(n, StringType(), True) for n in names])
    sample = spark.read.csv(
        spark.sparkContext.parallelize(lines, 1), header=True, inferSchema=True, sep=sep
    )
    fields = []
    for fld in sample.schema.fields:
        fields.append(StructField(fld.name, _widen(fld, id_field, label_field), True))
    return StructType(fields)


def _widen(fld: StructField, id_field: str, label_field: str) -> DataType:
    numeric = isinstance(fld.dataType, NumericType)
    if fld.name in (id_field, label_field):
        # Integer ids sort numerically (ties break by ascending id); anything else as text.
        return LongType() if numeric and _is_integral(fld) else StringType()
    if numeric:
        return DoubleType()
    return StringType()


def _is_integral(fld: StructField) -> bool:
    return fld.dataType.typeName() in ("integer", "long", "short", "byte")
