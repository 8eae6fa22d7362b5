"""Prediction files for the job tests: written with the csv module and Spark, read back as dicts."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import DoubleType, LongType, StructField, StructType

from selection.names import METADATA_FILE


def prediction_rows(
    n: int, classes: int = 3, seed: int = 0, features: int = 2
) -> list[dict[str, Any]]:
    """Rows with id, label, feature columns f0.. and prob_class_0..; probabilities sum to 1."""
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(classes, 0.6), size=n)
    rows = []
    for i in range(n):
        row: dict[str, Any] = {"id": i, "label": int(rng.integers(classes))}
        if i % 3:  # most labels agree with the model, so accuracies are informative
            row["label"] = int(np.argmax(probs[i]))
        for j in range(features):
            row[f"f{j}"] = float(rng.normal())
        for c in range(classes):
            row[f"prob_class_{c}"] = float(probs[i, c])
        rows.append(row)
    return rows


def write_csv_parts(
    directory: Path, rows: Sequence[dict[str, Any]], parts: int = 3, sep: str = ","
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    suffix = "tsv" if sep == "\t" else "csv"
    header = list(rows[0])
    for p in range(parts):
        with open(directory / f"part-{p:05d}.{suffix}", "w", newline="") as handle:
            writer = csv.writer(handle, delimiter=sep)
            writer.writerow(header)
            for row in rows[p::parts]:
                writer.writerow([repr(v) if isinstance(v, float) else v for v in row.values()])
    return directory


def write_parquet_parts(
    spark: SparkSession, directory: Path, rows: Sequence[dict[str, Any]], parts: int = 3
) -> Path:
    spark.createDataFrame(list(rows)).repartition(parts).write.parquet(str(directory))
    return directory


def read_selected(spark: SparkSession, directory: Path, fmt: str = "csv") -> list[dict[str, Any]]:
    if fmt == "parquet":
        rows = [r.asDict() for r in spark.read.parquet(str(directory)).collect()]
    else:
        rows = []
        # selected_samples.csv, or part files for a large selection
        for part in sorted(p for p in directory.iterdir() if p.suffix == ".csv"):
            with open(part, newline="") as handle:
                rows.extend(csv.DictReader(handle))
    return sorted(rows, key=lambda r: int(r["selection_rank"]))


def read_metadata(directory: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((directory / METADATA_FILE).read_text())
    return document


def output_is_absent(*directories: Path) -> bool:
    """No part file, metadata or _SUCCESS marker that could pass for a result."""
    for directory in directories:
        if not directory.exists():
            continue
        for entry in directory.rglob("*"):
            if entry.is_file() and (
                entry.name.startswith(("part-", "selected_samples."))
                or entry.name in (METADATA_FILE, "_SUCCESS")
            ):
                return False
    return True


def numpy_frame(
    spark: SparkSession,
    directory: Path,
    x: np.ndarray,
    probs: np.ndarray | None = None,
    *,
    parts: int = 4,
) -> DataFrame:
    """Rows id = 0..n-1, emb_0.. = x, prob_class_0.. = probs, through CSV part files.

    Spark parses CSV in the JVM: far faster than createDataFrame on 10^5 Python tuples.
    """
    n = len(x)
    if probs is None:
        probs = np.full((n, 2), 0.5)
    directory.mkdir(parents=True, exist_ok=True)
    table = np.column_stack([np.arange(n), x, probs])
    names = ["id"] + [f"emb_{j}" for j in range(x.shape[1])]
    names += [f"prob_class_{c}" for c in range(probs.shape[1])]
    fmt = ["%d"] + ["%.17g"] * (table.shape[1] - 1)
    for p in range(parts):
        np.savetxt(directory / f"part-{p}.csv", table[p::parts], fmt=fmt, delimiter=",")
    schema = StructType(
        [StructField("id", LongType())] + [StructField(c, DoubleType()) for c in names[1:]]
    )
    return spark.read.csv(str(directory), schema=schema)
