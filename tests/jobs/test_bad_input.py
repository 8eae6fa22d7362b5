"""Bad input, one table: every case the job must refuse (exit code, one-line message, nothing
written) and every case it must accept with a warning in the metadata.

The cases cover issue 6's list and every validation case of issue 2. Whatever Spark's CSV reader
would silently turn into null or drop (lines with too many or too few fields, values of the wrong
type beyond the lines the schema is sampled from, a broken quote, a column missing from one
Parquet file, a file Hadoop's listing skips) has a case that shows it is caught. CSV ids are
text, never guessed, so a text id after thousands of integer ids is accepted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession

from jobs.active_sample_selection import main
from selection.names import METADATA_FILE
from tests.reliability import files_under, selected_table

REPO = Path(__file__).resolve().parents[2]
HEADER = "id,prob_class_0,prob_class_1"
# ids 1..8: p0 = 0.1 .. 0.8, so margins differ and confidence peaks at the ends
GOOD_LINES = [f"{i},{i / 10:.1f},{1 - i / 10:.1f}" for i in range(1, 9)]

Content = str | bytes | Callable[[Path], None]


def csv_text(*lines: str, header: str = HEADER) -> str:
    return "\n".join([header, *lines]) + "\n"


GOOD = csv_text(*GOOD_LINES)


def parquet(columns: Mapping[str, list[Any]]) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        pq.write_table(pa.table(dict(columns)), str(path))

    return write


GOOD_PARQUET = parquet({"id": [1, 2, 3], "prob_class_0": [0.5, 0.4, 0.3],
                        "prob_class_1": [0.5, 0.6, 0.7]})  # fmt: skip


def dangling_symlink(path: Path) -> None:
    path.symlink_to(path.parent / "deleted-before-the-run.csv")


def unreadable_directory(path: Path) -> None:
    path.mkdir()
    (path / "part-1.csv").write_text(GOOD)
    path.chmod(0)


@dataclass(frozen=True)
class Case:
    name: str
    files: Mapping[str, Content]  # relative path under the input directory -> content
    env: Mapping[str, str]
    code: int
    # Fragments of the one `error:` line; for code 0, of one of the metadata warnings.
    message: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    input: str | None = None  # replaces the input directory in --input
    selected: tuple[str, ...] | None = None  # exit 0: the ids, in rank order
    isolated: bool = False  # run in its own process: the case may take the JVM down
    marks: tuple[Any, ...] = field(default_factory=tuple)

    def param(self) -> Any:
        return pytest.param(self, id=self.name, marks=self.marks)


UNC = {"SELECTION_STRATEGY": "uncertainty", "BATCH_SIZE": "3"}
SSL = {"SELECTION_STRATEGY": "confidence_threshold"}
TOPK = {"SELECTION_STRATEGY": "top_k_per_class", "K_PER_CLASS": "2"}
ROOT = os.geteuid() == 0 if hasattr(os, "geteuid") else False
WRONG_TYPE_LATE = [f"{i},0.5,0.5" for i in range(100, 2200)]  # past the 2000 sampled lines

CASES = [
    # --- configuration: exit 2, before any data is read --------------------------------------
    Case("strategy-missing", {"a.csv": GOOD}, {}, 2, ("SELECTION_STRATEGY is required",)),
    Case("strategy-unknown", {"a.csv": GOOD}, {"SELECTION_STRATEGY": "coreset"}, 2,
         ("SELECTION_STRATEGY='coreset' is not one of", "uncertainty")),
    Case("mode-unknown", {"a.csv": GOOD}, {**UNC, "UNCERTAINTY_MODE": "variance"}, 2,
         ("UNCERTAINTY_MODE='variance' is not one of", "margin, entropy, least_confidence")),
    Case("metric-unknown", {"a.csv": GOOD}, {**UNC, "METRIC": "manhattan"}, 2,
         ("METRIC='manhattan' is not one of: euclidean, cosine",)),
    Case("format-unknown", {"a.csv": GOOD}, {**UNC, "OUTPUT_FORMAT": "json"}, 2,
         ("OUTPUT_FORMAT='json' is not one of: csv, parquet",)),
    Case("strategy-use-case-mismatch-ssl", {"a.csv": GOOD}, {**UNC, "USE_CASE": "ssl"}, 2,
         ("Strategy 'uncertainty' is NOT valid for SSL",)),
    Case("strategy-use-case-mismatch-al", {"a.csv": GOOD}, {**SSL, "USE_CASE": "active_learning"},
         2, ("Strategy 'confidence_threshold' is NOT valid for active learning",)),
    Case("threshold-below-0.5", {"a.csv": GOOD}, {**SSL, "CONFIDENCE_THRESHOLD": "0.49"}, 2,
         ("CONFIDENCE_THRESHOLD=0.49 is outside [0.5, 1.0]",)),
    Case("threshold-above-1", {"a.csv": GOOD}, {**SSL, "CONFIDENCE_THRESHOLD": "1.0001"}, 2,
         ("CONFIDENCE_THRESHOLD=1.0001 is outside [0.5, 1.0]",)),
    Case("threshold-not-a-number", {"a.csv": GOOD}, {**SSL, "CONFIDENCE_THRESHOLD": "high"}, 2,
         ("CONFIDENCE_THRESHOLD='high' is not a number",)),
    Case("batch-size-negative", {"a.csv": GOOD}, {**UNC, "BATCH_SIZE": "-5"}, 2,
         ("BATCH_SIZE=-5 must be >= 1",)),
    Case("k-per-class-negative", {"a.csv": GOOD}, {**TOPK, "K_PER_CLASS": "-1"}, 2,
         ("K_PER_CLASS=-1 must be >= 1",)),
    Case("max-samples-negative", {"a.csv": GOOD}, {**SSL, "MAX_SAMPLES": "-3"}, 2,
         ("MAX_SAMPLES=-3 must be >= 0",)),
    Case("input-path-empty", {}, UNC, 2, ("input path is empty",), input=""),
    Case("input-scheme-hdfs", {}, UNC, 2,
         ("input path 'hdfs://namenode/preds' has scheme 'hdfs'", "s3a://"),
         input="hdfs://namenode/preds"),
    # --- the input path: exit 3 ---------------------------------------------------------------
    Case("input-missing", {}, UNC, 3, ("does not exist",), input="{tmp}/nowhere"),
    Case("input-empty-directory", {"sub/.keep": ""}, UNC, 3,
         ("holds no non-empty csv, tsv or parquet file",)),
    Case("only-zero-byte-files", {"a.csv": "", "b.csv": ""}, UNC, 3,
         ("holds no non-empty csv, tsv or parquet file",)),
    Case("header-only-file", {"a.csv": csv_text()}, UNC, 3,
         ("the input holds no data rows: 1 file(s) with a header line only",)),
    Case("mixed-csv-and-parquet", {"a.csv": GOOD, "b.parquet": GOOD_PARQUET}, UNC, 3,
         ("input mixes formats (csv, parquet)",)),
    Case("unknown-file-type", {"a.csv": GOOD, "notes.txt": "hello"}, UNC, 3,
         ("input holds files of unknown format: notes.txt",)),
    Case("dangling-symlink", {"a.csv": GOOD, "b.csv": dangling_symlink}, UNC, 3,
         ("b.csv", "cannot be read: it is a symlink to a missing file")),
    Case("unreadable-directory", {"a.csv": GOOD, "locked": unreadable_directory}, UNC, 3,
         ("cannot read input directory", "Permission denied"),
         marks=(pytest.mark.skipif(ROOT, reason="root reads a chmod 000 directory anyway"),)),
    Case("corrupt-parquet-file", {"a.parquet": GOOD_PARQUET, "b.parquet": b"PAR1 not really"},
         UNC, 3, ("b.parquet is not a Parquet file",)),
    Case("parquet-type-clash", {"a.parquet": GOOD_PARQUET, "b.parquet": parquet(
        {"id": ["x"], "prob_class_0": [0.5], "prob_class_1": [0.5]})}, UNC, 3,
         ("Parquet column cannot be converted", "b.parquet")),
    Case("csv-header-differs",
         {"a.csv": GOOD, "b.csv": csv_text("9,0.5,0.5", header="prob_class_0,id,prob_class_1")},
         UNC, 3, ("CSV header does not conform to the schema", "b.csv")),
    # --- what Spark's CSV reader would null or drop: exit 3 -------------------------------------
    Case("line-with-too-many-fields", {"a.csv": csv_text(*GOOD_LINES, "9,0.5,0.5,0.0")}, UNC, 3,
         ("1 input line(s) do not parse", "'9,0.5,0.5,0.0'")),
    Case("line-with-too-few-fields", {"a.csv": csv_text(*GOOD_LINES, "9,0.5")}, UNC, 3,
         ("1 input line(s) do not parse", "'9,0.5'")),
    Case("text-in-a-score-past-the-sample",
         {"a.csv": csv_text(*GOOD_LINES, *WRONG_TYPE_LATE, "9999,n/a,0.5")}, UNC, 3,
         ("1 input line(s) do not parse", "'9999,n/a,0.5'", "column 'prob_class_0' holds 'n/a'",
          "e.g. id '9999'")),
    Case("unterminated-quote", {"a.csv": csv_text(*GOOD_LINES, '"9,0.5,0.5')}, UNC, 3,
         ("input line(s) do not parse",)),
    Case("record-split-over-two-lines", {"a.csv": csv_text(*GOOD_LINES, '"nine\nlines",0.5,0.5')},
         UNC, 3, ("input line(s) do not parse", "set CSV_MULTILINE=true")),
    Case("parquet-file-missing-a-score-column",
         {"a.parquet": GOOD_PARQUET, "b.parquet": parquet({"id": [9], "prob_class_0": [0.5]})},
         UNC, 3, ("1 row(s) have a null, NaN or infinite score", "e.g. id '9'")),
    # --- schema: exit 3 -------------------------------------------------------------------------
    Case("id-column-missing", {"a.csv": GOOD}, {**UNC, "ID_FIELD": "sample_id"}, 3,
         ("id column 'sample_id' (ID_FIELD) is not in the input", "columns are: id, prob_class_0")),
    Case("label-column-missing", {"a.csv": GOOD}, {**UNC, "LABEL_FIELD": "truth"}, 3,
         ("label column 'truth' (LABEL_FIELD) is not in the input",)),
    Case("single-score-column", {"a.csv": csv_text("1,1.0", "2,1.0", header="id,prob_class_0")},
         UNC, 3, ("need at least two probability columns named 'prob_class_<i>' (found 1)",)),
    Case("score-columns-with-a-gap", {"a.csv": csv_text(
        "1,0.5,0.5", "2,0.3,0.7", header="id,prob_class_0,prob_class_2")}, UNC, 3,
         ("numbered 0..2 without gaps: 'prob_class_1' is missing",)),
    Case("score-column-not-numeric", {"a.csv": csv_text("1,0.5,high", "2,0.5,low")}, UNC, 3,
         ("score column 'prob_class_1' is not numeric (type string)",)),
    Case("column-named-twice", {"a.csv": csv_text(
        "1,0.5,0.5,0.5", header="id,prob_class_0,prob_class_1,prob_class_1")}, UNC, 3,
         ("the header names column(s) 'prob_class_1' more than once",)),
    Case("input-has-an-output-column", {"a.csv": csv_text(
        "1,0.5,0.5,7", header=HEADER + ",selection_rank")}, UNC, 3,
         ("input already has column 'selection_rank'",)),
    # --- data: exit 3, with how many rows and an example id -----------------------------------
    Case("null-score", {"a.csv": csv_text(*GOOD_LINES, "9,,0.5")}, UNC, 3,
         ("1 row(s) have a null, NaN or infinite score in prob_class_0, prob_class_1",
          "e.g. id '9'")),
    Case("nan-scores", {"a.csv": csv_text(*GOOD_LINES, "9,NaN,0.5", "10,0.5,NaN")}, UNC, 3,
         ("2 row(s) have a null, NaN or infinite score", "e.g. id '10'")),
    Case("infinite-score", {"a.csv": csv_text(*GOOD_LINES, "9,Infinity,0.0")}, UNC, 3,
         ("1 row(s) have a null, NaN or infinite score", "e.g. id '9'")),
    Case("negative-score", {"a.csv": csv_text(*GOOD_LINES, "9,-0.25,1.25")}, UNC, 3,
         ("1 row(s) have a score outside [0, 1]", "e.g. id '9'")),
    Case("score-above-one", {"a.csv": csv_text(*GOOD_LINES, "9,1.5,0.0", "11,1.01,0.0")}, UNC, 3,
         ("2 row(s) have a score outside [0, 1]", "e.g. id '11'")),
    Case("sums-off-by-1e-2", {"a.csv": csv_text(*GOOD_LINES, "9,0.5,0.51", "10,0.49,0.5",
                                               "12,0.2,0.79")}, UNC, 3,
         ("3 row(s) have probabilities whose sum is off 1 by more than PROB_SUM_TOLERANCE=0.001",
          "e.g. id '10'", "NORMALIZE_SCORES=true")),
    Case("null-ids", {"a.csv": csv_text(*GOOD_LINES, ",0.5,0.5", '"",0.4,0.6')}, UNC, 3,
         ("2 row(s) have an empty id in column 'id'",)),
    Case("duplicate-ids", {"a.csv": csv_text(*GOOD_LINES, "2,0.5,0.5", "3,0.5,0.5")}, UNC, 3,
         ("2 id(s) occur more than once in the", "(column 'id'), e.g. '2'; ids must be unique")),
    # --- accepted: exit 0, with the selection checked (and a warning where one is due) ----------
    Case("zero-byte-file-beside-good-ones", {"a.csv": GOOD, "b.csv": ""}, UNC, 0,
         ("skipped empty file 'b.csv'",), selected=("5", "4", "6")),
    Case("header-only-file-beside-good-ones", {"0-empty.csv": csv_text(), "a.csv": GOOD}, UNC, 0,
         selected=("5", "4", "6")),
    Case("unicode-and-quoted-ids", {"a.csv": csv_text(
        '"a,b",0.5,0.5', '"x""y",0.45,0.55', "ü-ß,0.4,0.6", '" padded ",0.35,0.65',
        "日本,0.3,0.7")}, {**UNC, "BATCH_SIZE": "5"}, 0,
         selected=("a,b", 'x"y', "ü-ß", " padded ", "日本")),
    # Ids are identifiers, read as text: a text id after thousands of integers is an id too.
    Case("text-id-past-the-sample",
         {"a.csv": csv_text(*GOOD_LINES, *WRONG_TYPE_LATE, "id-9999,0.0,1.0")}, SSL, 0,
         selected=("id-9999", "1")),
    Case("zero-padded-ids-stay-text",
         {"a.csv": csv_text("007,0.5,0.5", "7,0.4,0.6", "010,0.3,0.7")}, UNC, 0,
         selected=("007", "7", "010")),
    Case("all-rows-tied", {"a.csv": csv_text(*(f"{i},0.5,0.5" for i in (20, 3, 100, 7)))}, UNC, 0,
         selected=("3", "7", "20")),
    Case("threshold-exactly-1", {"a.csv": csv_text(*GOOD_LINES, "9,0.0,1.0", "10,0.0001,0.9999")},
         {**SSL, "CONFIDENCE_THRESHOLD": "1.0"}, 0, selected=("9",)),
    Case("zero-rows-selected", {"a.csv": GOOD}, {**SSL, "CONFIDENCE_THRESHOLD": "0.95"}, 0,
         ("zero rows selected",), selected=()),
    Case("batch-size-above-row-count", {"a.csv": GOOD}, {**UNC, "BATCH_SIZE": "50"}, 0,
         ("BATCH_SIZE=50 but only 8 selectable rows exist; selected all of them",),
         selected=("5", "4", "6", "3", "7", "2", "8", "1")),
    Case("k-per-class-above-class-size", {"a.csv": GOOD}, {**TOPK, "K_PER_CLASS": "5"}, 0,
         ("K_PER_CLASS=5 but some predicted classes have fewer rows (class 0: 4, class 1: 4)",),
         selected=("1", "2", "8", "3", "7", "4", "6", "5")),
    Case("single-predicted-class", {"a.csv": csv_text("1,0.2,0.8", "2,0.3,0.7", "3,0.1,0.9")},
         TOPK, 0, ("fewer rows (class 0: 0)",), selected=("3", "1")),
    Case("huge-batch-size", {"a.csv": GOOD}, {**UNC, "BATCH_SIZE": "1000000000"}, 0,
         ("BATCH_SIZE=1000000000 but only 8 selectable rows exist",),
         selected=("5", "4", "6", "3", "7", "2", "8", "1"), isolated=True),
]  # fmt: skip


def _materialize(case: Case, tmp_path: Path) -> str:
    source = tmp_path / "in"
    source.mkdir()
    for relative, content in case.files.items():
        path = source / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if callable(content):
            content(path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    if case.input is None:
        return str(source)
    return case.input.replace("{tmp}", str(tmp_path))


def _run_isolated(argv: list[str], env: Mapping[str, str]) -> tuple[int, str]:
    """The job as `python -m jobs.active_sample_selection` in its own JVM."""
    done = subprocess.run(
        [sys.executable, "-m", "jobs.active_sample_selection", "--master", "local[1]", *argv],
        env={
            **os.environ,
            **env,
            "PYTHONPATH": str(REPO),
            "SPARK_LOCAL_IP": "127.0.0.1",
            "PYSPARK_SUBMIT_ARGS": "--driver-memory 512m pyspark-shell",
        },
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    return done.returncode, done.stderr


@pytest.fixture
def restore_permissions(tmp_path: Path) -> Iterator[None]:
    yield
    for path in tmp_path.rglob("*"):
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o755)


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_bad_input(
    spark: SparkSession,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    restore_permissions: None,
    case: Case,
) -> None:
    source = _materialize(case, tmp_path)
    out, meta = tmp_path / "out", tmp_path / "meta"
    argv = ["--input", source, "--output", str(out), "--metadata-output", str(meta), *case.args]
    if case.isolated:
        code, err = _run_isolated(argv, case.env)
    else:
        code = main(argv, case.env, spark)
        err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]

    assert code == case.code, f"exit {code}, stderr:\n{err[-2000:]}"
    if case.code != 0:
        assert len(errors) == 1, f"expected one error line, got: {errors}"
        for fragment in case.message:
            assert fragment in errors[0]
        assert files_under(out, meta) == [], "a failed run left files behind"
        return

    assert errors == []
    assert (out / "_SUCCESS").is_file() and (meta / "_SUCCESS").is_file()
    warnings = json.loads((meta / METADATA_FILE).read_text(encoding="utf-8"))["warnings"]
    if case.message:
        assert any(all(f in w for f in case.message) for w in warnings), warnings
    else:
        assert warnings == []
    if case.selected is not None:
        header, *rows = selected_table(out)
        assert tuple(r[header.index("id")] for r in rows) == case.selected
        assert [r[header.index("selection_rank")] for r in rows] == [
            str(i) for i in range(1, len(rows) + 1)
        ]


def test_the_matrix_covers_the_issues() -> None:
    """At least 20 cases; every exit code the job knows for bad input; accepted cases too."""
    assert len(CASES) >= 20
    assert len({c.name for c in CASES}) == len(CASES)
    assert {c.code for c in CASES} == {0, 2, 3}
    assert sum(1 for c in CASES if c.code == 0 and c.message) >= 4  # warnings, not errors
