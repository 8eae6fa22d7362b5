"""Security: configuration is parsed, never evaluated; paths stay on local, file, s3 and s3a;
credentials never reach a log line or an error; Spark listens on loopback only in the tests and
in the job's own local session (the demo's)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from jobs.active_sample_selection import main
from selection.errors import SelectionConfigError
from selection.job.io import check_uri, redact
from tests.helpers import write_csv_parts
from tests.reliability import files_under, is_loopback, listening_sockets, reliability_rows

REPO = Path(__file__).resolve().parents[2]
ROWS = reliability_rows(20, seed=5)
KEY, SECRET = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def _argv(source: str, tmp_path: Path, *extra: str) -> list[str]:
    out, meta = str(tmp_path / "out"), str(tmp_path / "meta")
    return ["--input", source, "--output", out, "--metadata-output", meta, *extra]


# (variable, value, exit code, fragment of the error); {marker} is a file the payload would create
PAYLOADS = [
    ("BATCH_SIZE", "__import__('pathlib').Path('{marker}').touch() or 5", 2, "is not an integer"),
    ("CONFIDENCE_THRESHOLD", "0.9 if open('{marker}', 'w') else 0.9", 2, "is not a number"),
    ("SELECTION_STRATEGY", "uncertainty; touch {marker}", 2, "is not one of"),
    ("NORMALIZE_SCORES", "__import__('os').system('touch {marker}')", 2, "is not a boolean"),
    ("RANDOM_SEED", "${{touch {marker}}}", 2, "is not an integer"),
    ("ID_FIELD", "id`, (SELECT 1) AS `x", 3, "is not in the input"),
    ("LABEL_FIELD", "label OR 1=1", 3, "is not in the input"),
    # a regular expression in the prefix is a literal: 'prob.class.' must not match prob_class_
    ("SCORE_FIELD_PREFIX", "prob.class.", 3, "found 0"),
]


@pytest.mark.parametrize(("variable", "value", "code", "fragment"), PAYLOADS)
def test_configuration_is_parsed_not_evaluated(
    spark: SparkSession,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
    code: int,
    fragment: str,
) -> None:
    marker = tmp_path / "evaluated"
    value = value.format(marker=marker)
    source = write_csv_parts(tmp_path / "in", ROWS, parts=1)
    env = {"SELECTION_STRATEGY": "uncertainty", variable: value}
    assert main(_argv(str(source), tmp_path), env, spark) == code
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert fragment in error
    if code == 2:  # a config error quotes the value as it was given
        assert repr(value) in error
    assert not marker.exists(), f"{variable} was evaluated"
    assert files_under(tmp_path / "out", tmp_path / "meta") == []


def test_engine_source_has_no_evaluating_calls() -> None:
    """No eval/exec/compile, SQL strings or unsafe deserialisers where configuration flows."""
    forbidden_calls = {"eval", "exec", "compile", "__import__"}
    forbidden_attributes = {"expr", "selectExpr", "sql", "load", "loads", "system", "popen"}
    allowed = {("json", "loads"), ("json", "load")}
    allowed_in: dict[str, set[tuple[str, str]]] = {}
    offences = []
    for path in sorted([*REPO.glob("selection/**/*.py"), *REPO.glob("jobs/*.py")]):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Name) and func.id in forbidden_calls:
                offences.append(f"{path.name}:{node.lineno} {func.id}()")
            if isinstance(func, ast.Attribute) and func.attr in forbidden_attributes:
                owner = func.value.id if isinstance(func.value, ast.Name) else ""
                if (owner, func.attr) not in allowed | allowed_in.get(path.name, set()):
                    offences.append(f"{path.name}:{node.lineno} {owner}.{func.attr}()")
    assert offences == []


BAD_URIS = [
    "hdfs://namenode:8020/preds",
    "http://example.com/preds.csv",
    "gs://bucket/preds",
    "ftp://host/preds",
    "s3n://bucket/preds",
    "wasbs://container@account.blob.core.windows.net/preds",
    "jar:file:/opt/app.jar!/preds.csv",
]


@pytest.mark.parametrize("option", ["--input", "--output", "--metadata-output", "--labeled-data"])
@pytest.mark.parametrize("uri", BAD_URIS)
def test_only_local_file_s3_and_s3a_paths_are_accepted(
    spark: SparkSession,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    option: str,
    uri: str,
) -> None:
    source = write_csv_parts(tmp_path / "in", ROWS, parts=1)
    argv = _argv(str(source), tmp_path)
    if option in argv:
        argv[argv.index(option) + 1] = uri
    else:
        argv += [option, uri]
    assert main(argv, {"SELECTION_STRATEGY": "uncertainty"}, spark) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    scheme = uri.split(":", 1)[0]
    assert f"has scheme '{scheme}'; use a local path or file://, s3://, s3a://" in error
    assert files_under(tmp_path / "out", tmp_path / "meta") == []


def test_accepted_schemes(spark: SparkSession, tmp_path: Path) -> None:
    for path in ("/data/in", "relative/in", "file:///data/in", "s3://b/k", "s3a://b/k",
                 "S3A://b/k", "C:\\data\\in"):  # fmt: skip
        assert check_uri(path, "input") == path
    with pytest.raises(SelectionConfigError, match="input path is empty"):
        check_uri("", "input")
    source = write_csv_parts(tmp_path / "in", ROWS, parts=1)
    argv = _argv(source.as_uri(), tmp_path)  # file:///...
    assert main(argv, {"SELECTION_STRATEGY": "uncertainty", "BATCH_SIZE": "2"}, spark) == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"s3a://{KEY}:{SECRET}@bucket/in", "s3a://bucket/in"),
        (f"s3://{KEY}:wJal%2FrXUtn@bucket/in/", "s3://bucket/in/"),
        (f"s3a://{KEY}@bucket/in", "s3a://bucket/in"),
        (f"S3A://{KEY}:{SECRET}@Bucket", "S3A://Bucket"),
        (
            f"Wrong FS: s3a://{KEY}:{SECRET}@b/x, also s3://k2:s2@c/y failed",
            "Wrong FS: s3a://b/x, also s3://c/y failed",
        ),
        ("s3a://bucket/dir@2024/x", "s3a://bucket/dir@2024/x"),
        ("/local/user@host/x.csv", "/local/user@host/x.csv"),
    ],
)
def test_redact_strips_keys_from_uris(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize("option", ["--input", "--output", "--metadata-output", "--labeled-data"])
def test_credentials_never_reach_the_error_line(
    spark: SparkSession,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    option: str,
) -> None:
    """file://KEY:SECRET@localhost/... is accepted by the scheme check, then Hadoop refuses it
    with an exception whose message holds the whole URI: the job must not print it."""
    source = write_csv_parts(tmp_path / "in", ROWS, parts=1)
    credentialed = f"file://{KEY}:{SECRET}@localhost{tmp_path / 'elsewhere'}"
    argv = _argv(str(source), tmp_path)
    if option in argv:
        argv[argv.index(option) + 1] = credentialed
    else:
        argv += [option, credentialed]
    code = main(argv, {"SELECTION_STRATEGY": "uncertainty", "SPARK_LOG_LEVEL": "INFO"}, spark)
    err = capsys.readouterr().err
    assert code != 0
    assert err.strip().splitlines()[-1].startswith("error: ")
    assert KEY not in err and SECRET not in err and "wJal" not in err
    assert not list((tmp_path / "meta").rglob("*.json"))


def test_the_test_session_listens_on_loopback_only(spark: SparkSession) -> None:
    assert spark.conf.get("spark.driver.bindAddress") == "127.0.0.1"
    assert spark.conf.get("spark.driver.host") == "127.0.0.1"
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    sockets = listening_sockets(int(jvm.java.lang.ProcessHandle.current().pid()))
    assert sockets, "the driver JVM listens on nothing?"
    assert [s for s in sockets if not is_loopback(s[0])] == []


_SESSION_PROBE = """
import json, sys
sys.path.insert(0, {repo!r})
from selection.job.session import get_session
from tests.reliability import listening_sockets
spark = get_session("local[1]")
pid = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
print("SOCKETS " + json.dumps(listening_sockets(int(pid))))
spark.stop()
"""


def _job_session_sockets(env: dict[str, str]) -> list[tuple[str, int]]:
    done = subprocess.run(
        [sys.executable, "-c", _SESSION_PROBE.format(repo=str(REPO))],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("SOCKETS ")]
    assert lines, done.stderr[-2000:]
    return [(str(a), int(p)) for a, p in json.loads(lines[0][len("SOCKETS ") :])]


@pytest.mark.e2e
@pytest.mark.parametrize(
    "local_ip",
    [
        pytest.param("127.0.0.1", id="SPARK_LOCAL_IP-set-as-by-make"),
        pytest.param(None, id="SPARK_LOCAL_IP-unset"),
    ],
)
def test_the_jobs_local_session_listens_on_loopback_only(local_ip: str | None) -> None:
    """`python -m jobs.active_sample_selection` and the demo start Spark with get_session()."""
    env = {k: v for k, v in os.environ.items() if k != "SPARK_LOCAL_IP"}
    if local_ip:
        env["SPARK_LOCAL_IP"] = local_ip
    sockets = _job_session_sockets(env)
    assert sockets
    assert [s for s in sockets if not is_loopback(s[0])] == []
