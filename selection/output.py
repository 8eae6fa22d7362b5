"""Atomic output: rows are staged in a hidden directory and moved into place only on success.

A failure at any stage leaves no part files and no metadata in the output paths; an output that
already holds a result is replaced only with overwrite, and only after the new one is complete.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from selection.errors import OutputExistsError
from selection.io import check_uri, hadoop_fs, redact
from selection.names import METADATA_FILE, OutputFormat

_STAGING_PREFIX = "_staging-"
SUCCESS_MARKER = "_SUCCESS"


@dataclass
class OutputTarget:
    """One output directory: refuses to clobber a result, stages, then commits."""

    spark: SparkSession
    path: str
    overwrite: bool

    def __post_init__(self) -> None:
        check_uri(self.path, "output")
        self._fs, self._root = hadoop_fs(self.spark, self.path)
        self.staging = f"{self.path.rstrip('/')}/{_STAGING_PREFIX}{uuid.uuid4().hex}"

    def visible_entries(self) -> list[Any]:
        if not self._fs.exists(self._root):
            return []
        if self._fs.isFile(self._root):
            return [self._fs.getFileStatus(self._root)]
        return [s for s in self._fs.listStatus(self._root) if not s.getPath().getName().startswith(("_", "."))]

    def ensure_writable(self) -> None:
        if self._fs.exists(self._root) and self._fs.isFile(self._root):
            raise OutputExistsError(f"output path {redact(self.path)!r} is a file, not a directory")
        if self.visible_entries() and not self.overwrite:
            raise OutputExistsError(
                f"output path {redact(self.path)!r} already holds files; "
                "pass --overwrite to replace them or choose an empty path"
            )

    def commit(self) -> None:
        """Replace the visible contents of the output by the staged files."""
        jvm = self.spark.sparkContext._jvm
        assert jvm is not None
        staged_root = jvm.org.apache.hadoop.fs.Path(self.staging)
        for old in self.visible_entries():
            self._fs.delete(old.getPath(), True)
        marker = jvm.org.apache.hadoop.fs.Path(self._root, SUCCESS_MARKER)
        if self._fs.exists(marker):
            self._fs.delete(marker, False)
        for status in sorted(self._fs.listStatus(staged_root), key=lambda s: s.getPath().getName()):
            name = status.getPath().getName()
            if name.startswith(("_", ".")):
                continue
            target = jvm.org.apache.hadoop.fs.Path(self._root, name)
            if not self._fs.rename(status.getPath(), target):
                raise OSError(f"could not move {name} into {redact(self.path)}")
        self._fs.create(marker, True).close()
        self.abort()

    def abort(self) -> None:
        jvm = self.spark.sparkContext._jvm
        assert jvm is not None
        staged_root = jvm.org.apache.hadoop.fs.Path(self.staging)
        if self._fs.exists(staged_root):
            self._fs.delete(staged_root, True)

    def clean_stale_staging(self) -> None:
        """Remove staging directories that a killed earlier run left behind."""
        if not self._fs.exists(self._root) or self._fs.isFile(self._root):
            return
        for status in self._fs.listStatus(self._root):
            if status.getPath().getName().startswith(_STAGING_PREFIX):
                self._fs.delete(status.getPath(), True)


def stage_rows(df: DataFrame, target: OutputTarget, fmt: OutputFormat) -> None:
    writer = df.write.mode("errorifexists")
    if fmt is OutputFormat.CSV:
        writer.option("header", True).option("escape", '"').csv(target.staging)
    else:
        writer.parquet(target.staging)


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
    """Abort every target's staging area when the body fails, however it fails."""
    try:
        yield
    except BaseException:
        for target in targets:
            target.abort()
        raise
