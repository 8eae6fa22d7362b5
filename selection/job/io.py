"""Reading prediction sets (CSV, TSV, Parquet) from local paths or URIs through Hadoop's FileSystem.

CSV and TSV are read with every column as text, so every value comes out exactly as it was
written: ids are identifiers and never guessed (`007`, `03000` after 3,000 plain integers, `+1`,
a 19-digit id), and numbers keep their notation (`4`, `0.000590`, `1e3`). The engine casts the
score and feature columns to double inside its expressions; a value that does not parse is
counted by the job's data checks. Which text columns hold numbers (for the score-column check
and for choosing feature columns when FEATURE_FIELDS is not set) is read from a sample: the
first lines of the first file with data rows. Lines with the wrong number of fields land in a
corrupt-record column, which the checks count too. Quoting follows RFC 4180 (a quote inside a
quoted field is doubled, as pandas and the job's own CSV output write it), so quoted ids are read
back exactly as they were written; a quoted field holding a line break is refused (the files
are read line by line, so that Spark can split them between tasks).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from selection.engine.values import NUMERIC_TEXT, column
from selection.errors import SelectionConfigError, SelectionInputError
from selection.names import ALLOWED_URI_SCHEMES

CORRUPT_RECORD = "_corrupt_record"
_SAMPLE_LINES = 2000
# Widest input the job reads. Measured with local[2] and a 1 GB driver: 5,000 columns ran, at
# 10,000 the cached selected rows (a buffer per column) ran the JVM out of memory and the job
# died with a lost connection instead of an error. The library functions have no such limit.
MAX_COLUMNS = 5000
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

    @property
    def separator(self) -> str:
        """The field separator of CSV/TSV input (Parquet: ',' for showing rows)."""
        return "\t" if self.format == "tsv" else ","


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


# scheme://userinfo@ where userinfo is "key" or "key:secret"; an unencoded secret may hold "/".
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?:[^/@\s]+@|[^/@\s]*:[^@\s]*@)")


def redact(text: str) -> str:
    """`text` (a path, URI or message) fit for logs: user info (keys, secrets) stripped from URIs.

    `s3a://KEY:SECRET@bucket/in` becomes `s3a://bucket/in`, also when SECRET holds an
    unencoded '/', as AWS secret keys often do.
    """
    return _USERINFO.sub(lambda m: m.group("scheme"), text)


def cause_line(exc: BaseException) -> str:
    """The innermost `SomeException: message` of a (possibly JVM) error, on one line, redacted."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    line = next((ln for ln in lines if _JAVA_EXCEPTION.search(ln)), lines[0] if lines else "")
    matches = list(_JAVA_EXCEPTION.finditer(line))
    if matches:
        line = line[matches[-1].start("name") :]
    return redact(line or type(exc).__name__)[:500]


# `java.lang.RuntimeException: ` or `org.apache.spark.SparkException: ` inside a message.
_JAVA_EXCEPTION = re.compile(
    r"(?:^|[\s:(])(?:[a-z_$][\w$]*\.)+(?P<name>[A-Z][\w$]*(?:Exception|Error)): "
)


def hadoop_fs(spark: SparkSession, path: str) -> tuple[Any, Any]:
    """(FileSystem, Path) for `path`, so s3a, file and local paths share one code path."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    jpath = jvm.org.apache.hadoop.fs.Path(path)
    conf = spark.sparkContext._jsc.hadoopConfiguration()
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


def _local_path(path: str) -> str | None:
    """The OS path of a local or file:// path, None for remote URIs."""
    parsed = urlparse(path)
    if parsed.scheme.lower() == "file":
        return parsed.path
    return path if len(parsed.scheme) <= 1 else None


def _check_local_entries(root: str) -> None:
    """Refuse local input that Hadoop's listing would silently skip.

    Hadoop's local FileSystem leaves out entries it cannot stat (a dangling symlink, a file
    deleted while listing), so a file the user put there would be dropped without a word.
    """
    if os.path.islink(root) and not os.path.exists(root):
        raise SelectionInputError(f"input path {root!r} is a symlink to a missing file")
    if not os.path.isdir(root):
        if os.path.exists(root) and not os.access(root, os.R_OK):
            raise SelectionInputError(f"input file {root!r} is not readable (permission denied)")
        return

    def refuse(error: OSError) -> None:
        raise SelectionInputError(
            f"cannot read input directory {error.filename!r}: {error.strerror}"
        )

    for directory, subdirs, names in os.walk(root, onerror=refuse):
        subdirs[:] = [d for d in subdirs if not _is_hidden(d)]
        for name in names:
            full = os.path.join(directory, name)
            if _is_hidden(name):
                continue
            if not os.path.exists(full):
                raise SelectionInputError(
                    f"input file {full!r} cannot be read: it is a symlink to a missing file"
                )
            if not os.access(full, os.R_OK):
                raise SelectionInputError(
                    f"input file {full!r} is not readable (permission denied)"
                )


def list_data_files(spark: SparkSession, path: str) -> tuple[list[DataFile], list[str]]:
    """Data files under `path` (a file or a directory, recursively), warnings for skipped ones."""
    fs, jpath = hadoop_fs(spark, path)
    shown = redact(path)
    try:
        exists = fs.exists(jpath)
    except Exception as exc:  # e.g. access denied on a bucket
        raise SelectionInputError(f"cannot access input path {shown!r}: {cause_line(exc)}") from exc
    if not exists:
        raise SelectionInputError(f"input path {shown!r} does not exist")
    local = _local_path(path)
    if local is not None:
        _check_local_entries(local)
    try:
        return _list(fs, jpath, shown)
    except SelectionInputError:
        raise
    except Exception as exc:  # an unreadable directory below the input, a listing error
        raise SelectionInputError(f"cannot list input path {shown!r}: {cause_line(exc)}") from exc


def _list(fs: Any, jpath: Any, shown: str) -> tuple[list[DataFile], list[str]]:
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
        raise SelectionInputError(
            f"input path {shown!r} holds no non-empty csv, tsv or parquet file"
        )
    formats = sorted({f.format for f in files})
    if len(formats) > 1:
        raise SelectionInputError(
            f"input mixes formats ({', '.join(formats)}); put one format under {shown!r}"
        )
    files.sort(key=lambda f: f.path)
    return files, warnings


def read_predictions(
    spark: SparkSession,
    path: str,
    *,
    id_field: str,
    label_field: str = "",
    multiline: bool = False,
) -> Predictions:
    """Read every data file under `path` as one DataFrame.

    With `multiline` a CSV/TSV record may span lines inside a quoted field; Spark then cannot
    split a file, so each file is parsed by one task (a directory of part files keeps its
    parallelism, one large file does not).
    """
    check_uri(path, "input")
    files, warnings = list_data_files(spark, path)
    fmt = files[0].format
    paths = [f.path for f in files]
    try:
        if fmt == "parquet":
            df = spark.read.parquet(*paths)
            _check_width(len(df.columns))
        else:
            sep = "\t" if fmt == "tsv" else ","
            df = _read_delimited(spark, paths, sep, id_field, label_field, multiline)
    except SelectionInputError:
        raise
    except Exception as exc:  # Spark reports unreadable files as JVM errors; name the input.
        raise SelectionInputError(
            f"cannot read {fmt} input {redact(path)!r}: {cause_line(exc)}"
        ) from exc
    return Predictions(df=df, format=fmt, files=tuple(files), warnings=tuple(warnings))


def _check_width(columns: int) -> None:
    if columns > MAX_COLUMNS:
        raise SelectionInputError(
            f"the input has {columns:,} columns, more than the {MAX_COLUMNS:,} the job reads "
            "(wider rows run a 1 GB driver out of memory); keep only the id, label, score and "
            "feature columns, or run the selection functions on a session with more memory"
        )


def _read_delimited(
    spark: SparkSession,
    paths: list[str],
    sep: str,
    id_field: str,
    label_field: str,
    multiline: bool,
) -> DataFrame:
    schema = _sample_schema(spark, paths, sep, id_field, label_field, multiline)
    with_corrupt = StructType([*schema.fields, StructField(CORRUPT_RECORD, StringType(), True)])
    return (
        spark.read.schema(with_corrupt)
        .option("header", True)
        .option("sep", sep)
        .option("escape", '"')
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT_RECORD)
        # Compare each file's header with the schema, so files with other columns fail loudly.
        .option("enforceSchema", False)
        .option("multiLine", multiline)
        .csv(paths)
    )


def _sample_schema(
    spark: SparkSession,
    paths: list[str],
    sep: str,
    id_field: str,
    label_field: str,
    multiline: bool = False,
) -> StructType:
    """Every column as text; the ones whose sampled values are all numbers marked NUMERIC_TEXT.

    The sample is the first lines of the first file with data, read without a pass over the
    input. Files holding only a header are passed over (Spark reads them as zero rows); if every
    file is like that the input has no rows. The id and label columns are never marked: they
    are identifiers and targets, not numbers to compute with.
    """
    lines: list[str] = []
    for path in paths:
        lines = [r.value for r in spark.read.text(path).limit(_SAMPLE_LINES + 1).collect()]
        if not lines or not lines[0].strip():
            raise SelectionInputError(f"{redact(path)!r} has no header line")
        if any(line.strip() for line in lines[1:]):
            break
    else:
        raise SelectionInputError(
            f"the input holds no data rows: {len(paths)} file(s) with a header line only"
        )
    names = [n.strip().strip('"') for n in lines[0].lstrip("\ufeff").split(sep)]
    _check_width(len(names))
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise SelectionInputError(
            f"the header names column(s) {', '.join(repr(n) for n in repeated)} more than once"
        )
    options: dict[str, bool | str] = {"header": True, "sep": sep, "escape": '"'}
    if multiline:
        # Lines are not records here: let the CSV reader find the first records of that file.
        options["multiLine"] = True
        sample = spark.read.options(**options).csv(path).limit(_SAMPLE_LINES)
    else:
        rows: Any = spark.sparkContext.parallelize(lines, 1)  # DataFrameReader.csv takes an RDD
        sample = spark.read.options(**options).csv(rows)  # no inference: every column is text
    candidates = [c for c in sample.columns if c not in (id_field, label_field)]
    numeric: set[str] = set()
    if candidates:
        # Per column: does every non-empty sampled value cast to a number (the engine's cast)?
        # One flag per (line, column), exploded and grouped by column: C tiny groups instead of
        # C aggregates in one row, which take seconds to compile when C is in the thousands.
        flags = F.transform(
            F.array(*[column(c) for c in candidates]),
            lambda v: F.when(v.isNotNull(), v.cast("double").isNotNull()),
        )
        per_column = (
            sample.select(F.posexplode(flags).alias("i", "ok"))
            .groupBy("i")
            .agg(F.min("ok").alias("ok"))  # null when the column is empty in the sample
            .collect()
        )
        numeric = {candidates[r["i"]] for r in per_column if r["ok"]}
    return StructType(
        [
            StructField(c, StringType(), True, {NUMERIC_TEXT: True} if c in numeric else {})
            for c in sample.columns
        ]
    )
