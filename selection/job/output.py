"""Atomic output: rows are staged in a hidden directory and moved into place only on success.

A failure at any stage leaves no part files and no metadata in the output paths; an output that
already holds a result is replaced only with overwrite, and only after the new one is complete.
Inside `staged(rows, metadata)` the targets commit together: a previous result is moved aside
into a hidden `_previous-*` directory, and if a later target fails to commit, the targets that
already committed are rolled back (their new files removed, the previous result moved back).

A selection of at most SINGLE_FILE_MAX_ROWS rows is written as one file,
`selected_samples.csv` or `selected_samples.parquet`, in selection_rank order; a larger one as
Spark part files, written in parallel. Either way `_SUCCESS` marks the committed result.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from selection.errors import SelectionOutputError
from selection.job.io import check_uri, hadoop_fs, redact
from selection.names import METADATA_FILE, OUTPUT_SELECTED_SAMPLES, SELECTION_RANK, OutputFormat

_STAGING_PREFIX = "_staging-"
_PREVIOUS_PREFIX = "_previous-"
SUCCESS_MARKER = "_SUCCESS"
# Up to this many selected rows go into one file written by one task. Downstream scripts often
# read only the first data file of their input, so a labelling batch or a capped pseudo-label
# set must not be split; one task writes 10^6 rows of a dozen columns (200 MB of CSV) in a few
# seconds, and beyond that the parallel part-file write is worth the split.
SINGLE_FILE_MAX_ROWS = 1_000_000
SINGLE_FILE_STEM = OUTPUT_SELECTED_SAMPLES  # selected_samples.csv / selected_samples.parquet
# Where Spark's one-task write lands inside the staging directory before its file is renamed;
# the leading "_" keeps it out of the commit.
_SINGLE_FILE_SCRATCH = "_single"


@dataclass
class OutputTarget:
    """One output directory: refuses to clobber a result, stages, then commits."""

    spark: SparkSession
    path: str
    overwrite: bool

    def __post_init__(self) -> None:
        check_uri(self.path, "output")
        self._fs, self._root = hadoop_fs(self.spark, self.path)
        run = uuid.uuid4().hex
        self.staging = f"{self.path.rstrip('/')}/{_STAGING_PREFIX}{run}"
        self.previous = f"{self.path.rstrip('/')}/{_PREVIOUS_PREFIX}{run}"
        self._committed = False
        self._keep_previous = False  # set by `staged`: keep it until every target committed
        # A run that fails leaves no output directory it created (staging makes the directory).
        self._root_was_absent = not self._fs.exists(self._root)

    def _path(self, path: str, child: str | None = None) -> Any:
        jvm = self.spark.sparkContext._jvm
        assert jvm is not None
        return (
            jvm.org.apache.hadoop.fs.Path(path, child)
            if child
            else jvm.org.apache.hadoop.fs.Path(path)
        )

    def _move(self, source: Any, target: Any) -> None:
        if not self._fs.rename(source, target):
            raise OSError(
                f"could not move {source.getName()} into {redact(str(target.getParent()))}"
            )

    def visible_entries(self) -> list[Any]:
        if not self._fs.exists(self._root):
            return []
        if self._fs.isFile(self._root):
            return [self._fs.getFileStatus(self._root)]
        return [
            s
            for s in self._fs.listStatus(self._root)
            if not s.getPath().getName().startswith(("_", "."))
        ]

    def ensure_writable(self) -> None:
        if self._fs.exists(self._root) and self._fs.isFile(self._root):
            raise SelectionOutputError(
                f"output path {redact(self.path)!r} is a file, not a directory"
            )
        if self.visible_entries() and not self.overwrite:
            raise SelectionOutputError(
                f"output path {redact(self.path)!r} already holds files; "
                "pass --overwrite to replace them or choose an empty path"
            )

    def commit(self) -> None:
        """Replace the visible contents of the output by the staged files."""
        staged_root = self._path(self.staging)
        previous = self._path(self.previous)
        marker = self._path(self.path, SUCCESS_MARKER)
        self._committed = True  # from here on a rollback has something to undo
        old = self.visible_entries()
        if self._fs.exists(marker):
            old.append(self._fs.getFileStatus(marker))
        if old:
            self._fs.mkdirs(previous)
            for status in old:
                self._move(status.getPath(), self._path(self.previous, status.getPath().getName()))
        for status in sorted(self._fs.listStatus(staged_root), key=lambda s: s.getPath().getName()):
            name = status.getPath().getName()
            if name.startswith(("_", ".")):
                continue
            self._move(status.getPath(), self._path(self.path, name))
        self._fs.create(marker, True).close()
        self.abort()
        if not self._keep_previous:
            self.finish()

    def finish(self) -> None:
        """Drop the previous result moved aside by `commit`."""
        previous = self._path(self.previous)
        if self._fs.exists(previous):
            self._fs.delete(previous, True)

    def rollback(self) -> None:
        """Undo `commit` (new files out, previous result back) and drop the staged files."""
        if self._committed:
            marker = self._path(self.path, SUCCESS_MARKER)
            if self._fs.exists(marker):
                self._fs.delete(marker, False)
            for status in self.visible_entries():
                self._fs.delete(status.getPath(), True)
            previous = self._path(self.previous)
            if self._fs.exists(previous):
                for status in self._fs.listStatus(previous):
                    self._move(status.getPath(), self._path(self.path, status.getPath().getName()))
                self._fs.delete(previous, True)
            self._committed = False
        self.abort()
        root_left = self._root_was_absent and self._fs.exists(self._root)
        if root_left and not self._fs.listStatus(self._root):
            self._fs.delete(self._root, False)

    def abort(self) -> None:
        staged_root = self._path(self.staging)
        if self._fs.exists(staged_root):
            self._fs.delete(staged_root, True)

    def clean_stale_staging(self) -> None:
        """Remove staging directories that a killed earlier run left behind."""
        if not self._fs.exists(self._root) or self._fs.isFile(self._root):
            return
        complete = self._fs.exists(self._path(self.path, SUCCESS_MARKER))
        for status in self._fs.listStatus(self._root):
            name = status.getPath().getName()
            # A previous result moved aside is garbage once a newer one is complete; without
            # _SUCCESS a run died while committing and it is the only copy, so it stays.
            if name.startswith(_STAGING_PREFIX) or (complete and name.startswith(_PREVIOUS_PREFIX)):
                self._fs.delete(status.getPath(), True)


def single_file(row_count: int | None) -> bool:
    """Whether a selection of `row_count` rows is written as one file (None: size unknown)."""
    return row_count is not None and row_count <= SINGLE_FILE_MAX_ROWS


def stage_rows(
    df: DataFrame,
    target: OutputTarget,
    fmt: OutputFormat,
    row_count: int | None = None,
    *,
    persisted: bool = True,
) -> None:
    """Stage the selected rows: one `selected_samples.<fmt>` when `row_count` (already known to
    the caller, or a bound on it; counting here would cost a Spark job) is at most
    SINGLE_FILE_MAX_ROWS, else part files. `persisted`: `df` is read from a persisted copy."""
    if not single_file(row_count):
        _write(df, target.staging, fmt)
        return
    # A persisted copy is read by one task without a shuffle (coalesce). Otherwise coalesce(1)
    # would run the selecting stage itself in one task; the few rows are shuffled to one
    # instead. Rank order lets a reader that takes the first N lines take the N best.
    one = df.coalesce(1) if persisted else df.repartition(1)
    if SELECTION_RANK in df.columns:
        one = one.sortWithinPartitions(SELECTION_RANK)
    scratch = f"{target.staging}/{_SINGLE_FILE_SCRATCH}"
    _write(one, scratch, fmt)
    written = [
        s.getPath()
        for s in target._fs.listStatus(target._path(scratch))
        if s.isFile() and not s.getPath().getName().startswith(("_", "."))
    ]
    if len(written) != 1:  # one task writes one file, even for zero rows (header or schema)
        raise OSError(f"expected one file from a one-task write, found {len(written)}")
    target._move(written[0], target._path(target.staging, f"{SINGLE_FILE_STEM}.{fmt.value}"))


def staged_ids(target: OutputTarget, fmt: OutputFormat) -> DataFrame:
    """The staged rows as written (CSV: every column as its text), to check their ids."""
    reader = target.spark.read
    if fmt is OutputFormat.CSV:
        # As `_write` wrote them; a quoted id may hold a newline.
        csv = reader.option("header", True).option("escape", '"').option("multiLine", True)
        return csv.csv(target.staging)
    return reader.parquet(target.staging)


def _write(df: DataFrame, path: str, fmt: OutputFormat) -> None:
    writer = df.write.mode("errorifexists")
    if fmt is OutputFormat.CSV:
        # Spark's CSV writer trims blanks around values by default; ids must come back unchanged.
        writer.option("header", True).option("escape", '"').option(
            "ignoreLeadingWhiteSpace", False
        ).option("ignoreTrailingWhiteSpace", False).csv(path)
    else:
        writer.parquet(path)


def stage_json(target: OutputTarget, document: dict[str, Any]) -> None:
    jvm = target.spark.sparkContext._jvm
    assert jvm is not None
    payload = json.dumps(document, indent=2, sort_keys=False, allow_nan=False) + "\n"
    stream = target._fs.create(jvm.org.apache.hadoop.fs.Path(target.staging, METADATA_FILE), True)
    try:
        stream.write(bytearray(payload.encode("utf-8")))
    finally:
        stream.close()


@contextmanager
def staged(*targets: OutputTarget) -> Iterator[None]:
    """Commit `targets` together: when the body fails, however it fails, every target is rolled
    back (staged files dropped, committed ones undone); on success the previous results go."""
    for target in targets:
        target._keep_previous = True
    try:
        yield
    except BaseException:
        for target in reversed(targets):
            target.rollback()
        raise
    finally:
        for target in targets:
            target._keep_previous = False
    for target in targets:
        target.finish()
