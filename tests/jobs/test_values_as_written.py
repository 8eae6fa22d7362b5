"""What goes in comes out: CSV ids and values exactly as written, and CSV selects what Parquet does.

Ids are identifiers, never guessed from a sample: `007`, `03000` after 3,000 plain integers,
`+1`, ` 7`, `1e3`, 19- and 20-digit ids, quoted ids with commas and quotes, non-ASCII ids. Every
column is carried through as the text it was; the scores are parsed for computing and written
back in the notation they came in.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession

from jobs.active_sample_selection import main
from tests.reliability import data_files

# (p0, p1) as different CSV writers put numbers; each pair sums to 1.
NOTATIONS = [
    ("0.5", "0.5"),  # plain
    (".25", ".75"),  # no leading zero
    ("2.5e-1", "7.5e-1"),  # exponent: Python, pandas, R
    ("5.9E-4", "9.9941E-1"),  # exponent: Java, Spark
    ("1.000000000000000000e-01", "9.000000000000000000e-01"),  # numpy.savetxt
    ("1.00E-01", "9.00E-01"),  # spreadsheet scientific format
    ("0.000590", "0.999410"),  # fixed with trailing zeros
    ("+0.1", "0.9"),  # explicit sign
    ("1", "0"),  # integers
    ("1.", "0."),  # trailing point
    ("-0", "1"),  # negative zero
    ("0.30000000000000004", "0.7"),  # shortest round trip of 0.1 + 0.2
    (" 0.5", "0.5 "),  # blanks around the number
]
NOTES = ["4", "0.000590", "5.9E-4", "  padded  ", "1,5", "TRUE", "007", "naïve", ""]
ODD_IDS = [
    "007",
    "03000",
    "+1",
    " 7",
    "7 ",
    "1e3",
    "-0",
    "1234567890123456789",
    "9223372036854775807",
    "-9223372036854775808",
    "98765432109876543210",  # beyond a bigint
    "a,b",
    'say "hi"',
    "ü-ß",
    "日本語",
    "Ωmega 🙂",
]


def _write(
    path: Path, header: Sequence[str], rows: Sequence[Sequence[str]], sep: str = ","
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=sep, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def _read(directory: Path) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for part in data_files(directory):
        with open(part, newline="", encoding="utf-8") as handle:
            rows.extend(csv.DictReader(handle))
    return sorted(rows, key=lambda r: int(r["selection_rank"]))


def _run(spark: SparkSession, source: Path, out: Path, env: dict[str, str]) -> int:
    argv = ["--input", str(source), "--output", str(out), "--metadata-output", str(out) + "-meta"]
    return main(argv, env, spark)


@pytest.mark.parametrize("sep", [",", "\t"])
def test_every_id_and_value_comes_out_as_written(
    spark: SparkSession, tmp_path: Path, sep: str
) -> None:
    # 3,000 plain integers first: a reader guessing types from a sample would call ids numbers.
    ids = [str(i) for i in range(1, 3001)] + ODD_IDS
    header = ["id", "note", "prob_class_0", "prob_class_1"]
    rows = [
        [ident, NOTES[i % len(NOTES)], *NOTATIONS[i % len(NOTATIONS)]]
        for i, ident in enumerate(ids)
    ]
    source = tmp_path / "in" / ("part-0.tsv" if sep == "\t" else "part-0.csv")
    _write(source, header, rows, sep)
    # Confidence >= 0.5 holds for every row of two classes: every row is selected.
    env = {"SELECTION_STRATEGY": "confidence_threshold", "CONFIDENCE_THRESHOLD": "0.5"}
    assert _run(spark, source.parent, tmp_path / "out", env) == 0

    written = {r[0]: dict(zip(header, r, strict=True)) for r in rows}
    selected = _read(tmp_path / "out")
    assert len(selected) == len(rows)
    for row in selected:
        expected = written[row["id"]]  # joining back on the id text finds every row
        # An empty field is read as null and written back empty, so it still reads as "".
        assert {c: row[c] for c in header} == expected
        p0, p1 = (float(expected[c]) for c in header[2:])
        assert math.isclose(float(row["confidence"]), max(p0, p1), abs_tol=1e-15)
        assert int(row["pseudo_label"]) == (1 if p1 > p0 else 0)
    assert {r["id"] for r in selected} == set(written)


def test_parquet_output_of_csv_input_keeps_the_text(spark: SparkSession, tmp_path: Path) -> None:
    header = ["id", "prob_class_0", "prob_class_1"]
    rows = [[ident, *NOTATIONS[i % len(NOTATIONS)]] for i, ident in enumerate(ODD_IDS)]
    _write(tmp_path / "in" / "a.csv", header, rows)
    env = {
        "SELECTION_STRATEGY": "confidence_threshold",
        "CONFIDENCE_THRESHOLD": "0.5",
        "OUTPUT_FORMAT": "parquet",
    }
    assert _run(spark, tmp_path / "in", tmp_path / "out", env) == 0
    got = spark.read.parquet(str(tmp_path / "out"))
    assert dict(got.dtypes)["id"] == "string"
    assert sorted(tuple(r) for r in got.select(*header).collect()) == sorted(map(tuple, rows))


def test_a_number_that_does_not_parse_names_its_column_count_and_id(
    spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    header = ["id", "prob_class_0", "prob_class_1"]
    rows = [[str(i), "0.5", "0.5"] for i in range(2500)]
    rows += [["x-1", "0.5", "0,5"], ["x-2", "one half", "0.5"]]  # past the sampled lines
    _write(tmp_path / "in" / "a.csv", header, rows)
    env = {"SELECTION_STRATEGY": "uncertainty", "BATCH_SIZE": "3"}
    assert _run(spark, tmp_path / "in", tmp_path / "out", env) == 3
    (line,) = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
    assert "2 input line(s) do not parse" in line
    assert "column 'prob_class_1' holds '0,5', which is not a number" in line
    assert "e.g. id 'x-1' in line 'x-1,0.5,\"0,5\"'" in line


# --- the same rows as CSV and as Parquet select the same ids -----------------------------------

STRATEGIES = {
    "margin": {"SELECTION_STRATEGY": "uncertainty", "BATCH_SIZE": "10"},
    "entropy": {
        "SELECTION_STRATEGY": "uncertainty",
        "BATCH_SIZE": "10",
        "UNCERTAINTY_MODE": "entropy",
    },
    "least_confidence": {
        "SELECTION_STRATEGY": "uncertainty",
        "BATCH_SIZE": "10",
        "UNCERTAINTY_MODE": "least_confidence",
    },
    "confidence_threshold": {
        "SELECTION_STRATEGY": "confidence_threshold",
        "CONFIDENCE_THRESHOLD": "0.6",
    },
    "confidence_threshold-capped": {
        "SELECTION_STRATEGY": "confidence_threshold",
        "CONFIDENCE_THRESHOLD": "0.6",
        "MAX_SAMPLES": "7",
    },
    "top_k_per_class": {"SELECTION_STRATEGY": "top_k_per_class", "K_PER_CLASS": "4"},
    "diversity": {"SELECTION_STRATEGY": "diversity", "BATCH_SIZE": "8"},
    "badge": {"SELECTION_STRATEGY": "badge", "BATCH_SIZE": "8", "KMEANS_ROUNDS": "2"},
}
# A few probability rows repeated, so that ties (broken by ascending id) decide the order.
PROFILES = [(0.7, 0.2, 0.1), (0.4, 0.4, 0.2), (0.1, 0.1, 0.8), (0.34, 0.33, 0.33), (0.6, 0.3, 0.1)]


def _exact_text(value: float, i: int) -> str:
    """`value` in one of several notations that all parse back to the same double."""
    forms = [repr(value), f"{value:.17g}", f"{value:.17e}", f"{value:.17E}"]
    text = forms[i % len(forms)]
    return "+" + text if i % 5 == 0 and value >= 0 else text


@pytest.fixture(scope="module")
def both_formats(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("formats")
    n = 120
    rng = np.random.default_rng(12)
    ids = rng.permutation(n).astype(np.int64) * 7 + 3  # ids from 3 to 836, in no order
    probs = np.array([PROFILES[i % len(PROFILES)] for i in range(n)])
    label = rng.integers(0, 3, size=n)
    x = rng.normal(size=(n, 2)) * np.array([1.0, 1e-6])
    columns: dict[str, Any] = {"id": ids, "label": label, "f0": x[:, 0], "f1": x[:, 1]}
    columns.update({f"prob_class_{c}": probs[:, c] for c in range(3)})
    pq.write_table(pa.table(columns), _mkdir(root / "parquet") / "part-0.parquet")
    header = list(columns)
    rows = []
    for i in range(n):
        text = [str(ids[i]), str(label[i])]
        text += [_exact_text(float(columns[c][i]), i + k) for k, c in enumerate(header[2:])]
        rows.append(text)
    # Two part files, so the ids of one file are not all read before the other's.
    _write(root / "csv" / "part-0.csv", header, rows[::2])
    _write(root / "csv" / "part-1.csv", header, rows[1::2])
    return {"csv": root / "csv", "parquet": root / "parquet"}


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_csv_and_parquet_select_the_same_ids(
    spark: SparkSession, tmp_path: Path, both_formats: dict[str, Path], strategy: str
) -> None:
    got = {}
    for fmt, source in both_formats.items():
        assert _run(spark, source, tmp_path / fmt, STRATEGIES[strategy]) == 0
        got[fmt] = [r["id"] for r in _read(tmp_path / fmt)]
    assert got["csv"] == got["parquet"]
    assert len(got["csv"]) >= 7


@pytest.mark.parametrize("sep", [",", "\t"])
def test_quoted_line_breaks_come_out_as_written_with_csv_multiline(
    spark: SparkSession, tmp_path: Path, sep: str
) -> None:
    header = ["id", "note", "prob_class_0", "prob_class_1"]
    ids = ["line\nbreak", "crlf\r\nbreak", "a,b\nc", 'say "hi"\nthere', *map(str, range(30))]
    notes = ["one\ntwo", "", "x", "three\nlines\nhere"]
    rows = [
        [ident, notes[i % len(notes)], *NOTATIONS[i % len(NOTATIONS)]]
        for i, ident in enumerate(ids)
    ]
    _write(tmp_path / "in" / "a.csv", header, rows, sep)
    env = {
        "SELECTION_STRATEGY": "confidence_threshold",
        "CONFIDENCE_THRESHOLD": "0.5",
        "CSV_MULTILINE": "true",
    }
    if sep == "\t":
        (tmp_path / "in" / "a.csv").rename(tmp_path / "in" / "a.tsv")
    assert _run(spark, tmp_path / "in", tmp_path / "out", env) == 0
    selected = _read(tmp_path / "out")
    assert sorted(tuple(r[c] for c in header) for r in selected) == sorted(map(tuple, rows))


def test_a_quoted_line_break_without_csv_multiline_says_how_to_read_it(
    spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    header = ["id", "prob_class_0", "prob_class_1"]
    rows = [["a\nb", "0.5", "0.5"], *[[str(i), "0.5", "0.5"] for i in range(5)]]
    _write(tmp_path / "in" / "a.csv", header, rows)
    env = {"SELECTION_STRATEGY": "uncertainty", "BATCH_SIZE": "2"}
    assert _run(spark, tmp_path / "in", tmp_path / "out", env) != 0
    (line,) = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
    assert "CSV_MULTILINE=true" in line
    assert not (tmp_path / "out").exists()
