"""The job on a real Spark standalone cluster (a master and two one-core workers on loopback).

- Every strategy, submitted to spark://127.0.0.1:PORT, selects exactly what local mode selects.
- A Python worker that dies once (injected through `spark.python.daemon.module`, no engine code
  touched) is retried and the result does not change.
- A worker killed while the selection runs (its JVM and its executor, SIGKILL) does not change
  the result either: the lost tasks, shuffle output and cached blocks are recomputed.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from jobs.active_sample_selection import main
from tests.cluster.conftest import LOOPBACK, REPO, StandaloneCluster, free_port, run_logged
from tests.helpers import read_metadata, write_csv_parts
from tests.reliability import (
    STRATEGY_RUNS,
    StrategyRun,
    is_loopback,
    listening_sockets,
    reliability_rows,
    selected_table,
    strategy_params,
)

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]

JOB = REPO / "jobs" / "active_sample_selection.py"
HERE = Path(__file__).resolve().parent
ROWS = reliability_rows(2000, seed=21)
# The settings of the local `spark` fixture (tests/conftest.py): the cluster differs from local
# mode only in where the tasks run.
SAME_AS_LOCAL = {"spark.default.parallelism": "4", "spark.sql.shuffle.partitions": "4"}
# One configuration per strategy and plan shape (the other modes only change expressions), to
# keep the cluster tests within their time budget.
ON_CLUSTER = ("confidence_threshold", "top_k_per_class", "uncertainty-margin", "diversity", "badge")


def _local_run(spark: SparkSession, source: Path, root: Path, env: Mapping[str, str]) -> Path:
    """The reference: the same job on the same files, in local mode on the test session."""
    spark.conf.set("spark.sql.shuffle.partitions", "4")
    argv = ["--input", str(source), "--output", str(root / "out"),
            "--metadata-output", str(root / "meta")]  # fmt: skip
    assert main(argv, env, spark) == 0
    return root


def _same_result(cluster_root: Path, local_root: Path) -> None:
    assert selected_table(cluster_root / "out") == selected_table(local_root / "out")
    got, want = read_metadata(cluster_root / "meta"), read_metadata(local_root / "meta")
    for key in ("input_rows", "selected_rows", "per_class_selected", "selection_score"):
        assert got[key] == want[key], key


@dataclass
class ClusterRuns:
    """One application on the cluster that ran every available strategy."""

    source: Path
    root: Path
    codes: dict[str, int]
    log: str
    crash_marker: Path


@pytest.fixture(scope="module")
def cluster_runs(
    spark: SparkSession, cluster: StandaloneCluster, tmp_path_factory: pytest.TempPathFactory
) -> ClusterRuns:
    """spark-submit tests/cluster/run_jobs.py once: every available strategy in one app, with
    the first Python worker of the app made to die (crash_once_daemon.py)."""
    root = tmp_path_factory.mktemp("cluster_runs")
    source = write_csv_parts(root / "in", ROWS, parts=4)
    plan = {}
    for run in STRATEGY_RUNS:
        if run.name in ON_CLUSTER:
            argv = ["--input", str(source), "--output", str(root / run.name / "out"),
                    "--metadata-output", str(root / run.name / "meta")]  # fmt: skip
            plan[run.name] = {"argv": argv, "env": dict(run.env)}
    (root / "plan.json").write_text(json.dumps(plan))
    marker = root / "python-worker-crashed"
    cluster.ensure_workers()
    done = cluster.submit(
        HERE / "run_jobs.py",
        str(root / "plan.json"),
        str(root / "codes.json"),
        conf={
            **SAME_AS_LOCAL,
            "spark.python.daemon.module": "crash_once_daemon",
            "spark.executorEnv.PYTHONPATH": str(HERE),
            "spark.executorEnv.CRASH_ONCE_MARKER": str(marker),
        },
        timeout=600,
    )
    (root / "driver.log").write_text(done.stdout)
    assert done.returncode == 0, done.stdout[-4000:]
    codes = json.loads((root / "codes.json").read_text())
    return ClusterRuns(source, root, codes, done.stdout, marker)


@pytest.mark.parametrize("run", strategy_params(*ON_CLUSTER))
def test_cluster_selects_what_local_mode_selects(
    spark: SparkSession, tmp_path: Path, cluster_runs: ClusterRuns, run: StrategyRun
) -> None:
    assert cluster_runs.codes[run.name] == 0, cluster_runs.log[-3000:]
    local = _local_run(spark, cluster_runs.source, tmp_path, run.env)
    _same_result(cluster_runs.root / run.name, local)
    assert "127.0.0.1" in cluster_runs.log and "spark://127.0.0.1:" in cluster_runs.log


def test_a_python_worker_that_dies_once_is_retried(cluster_runs: ClusterRuns) -> None:
    # the fault happened: the first Python worker claimed the marker and exited ...
    assert cluster_runs.crash_marker.exists(), "the injected crash never ran"
    # ... Spark saw a task fail on an executor (writing to the dead worker, or reading from it) ...
    lost = r"Lost task \S+ in stage .* executor \d+\): .*(Python worker exited|Broken pipe|reset)"
    assert re.search(lost, cluster_runs.log), cluster_runs.log[-3000:]
    # ... and every run of the application still succeeded (and matched local mode, above)
    assert cluster_runs.codes and set(cluster_runs.codes.values()) == {0}


def test_the_cluster_listens_on_loopback_only(cluster: StandaloneCluster) -> None:
    cluster.ensure_workers()
    for daemon in cluster.daemons():
        sockets = listening_sockets(daemon.process.pid)
        assert sockets, f"{daemon.name} listens on nothing?"
        assert [s for s in sockets if not is_loopback(s[0])] == [], daemon.name


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=2) as response:
        return json.loads(response.read().decode("utf-8"))


def _busy_executor(ui_port: int) -> str | None:
    """Id of an executor that is running a task right now (None when none is, or no UI yet)."""
    base = f"http://{LOOPBACK}:{ui_port}/api/v1/applications"
    try:
        app = _get(base)[0]["id"]
        executors = _get(f"{base}/{app}/executors")
    except (OSError, ValueError, IndexError, KeyError):
        return None
    busy = [e["id"] for e in executors if e["id"] != "driver" and e.get("activeTasks", 0) > 0]
    return busy[0] if busy else None


def test_losing_a_worker_mid_selection_changes_nothing(
    spark: SparkSession, cluster: StandaloneCluster, tmp_path: Path
) -> None:
    """SIGKILL a worker and its executor while tasks of the selection run on it."""
    cluster.ensure_workers()
    # uncapped confidence_threshold: the widest plan (observed scan, persisted rows, shuffles)
    env = {"SELECTION_STRATEGY": "confidence_threshold", "CONFIDENCE_THRESHOLD": "0.6"}
    rows = reliability_rows(24_000, seed=9)
    source = write_csv_parts(tmp_path / "in", rows, parts=8)
    ui_port = free_port()
    command = cluster.submit_command(
        JOB, "--input", str(source), "--output", str(tmp_path / "cluster" / "out"),
        "--metadata-output", str(tmp_path / "cluster" / "meta"),
        conf={**SAME_AS_LOCAL, "spark.ui.enabled": "true", "spark.ui.port": str(ui_port)},
    )  # fmt: skip
    log = tmp_path / "driver.log"
    driver = run_logged(command, log, env={**cluster.env, **env}, cwd=REPO)
    victim = None
    try:
        deadline = time.monotonic() + 400
        while driver.poll() is None and time.monotonic() < deadline:
            if "scanning the input once" in log.read_text(errors="replace"):
                victim = _busy_executor(ui_port)
                if victim is not None:
                    break
            time.sleep(0.05)
        assert victim is not None, (
            "no task of the selection was caught running:\n"
            + (log.read_text(errors="replace")[-3000:])
        )
        owner = next(i for i in cluster.workers if victim in cluster.executor_pids(i))
        cluster.kill_worker(owner)
        assert driver.wait(timeout=400) == 0, log.read_text(errors="replace")[-4000:]
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    text = log.read_text(errors="replace")
    # the scheduler lost the executor while the selection ran, not before or after it
    lost = re.search(rf"Lost executor {victim}\b", text)
    assert lost, text[-3000:]
    assert text.index("scanning the input once") < lost.start() < text.index("INFO done")
    # same rows, ranks and scores, and the same counts in the metadata (input_rows too: rows
    # observed by tasks that ran twice must not count twice)
    local = _local_run(spark, source, tmp_path / "local", env)
    _same_result(tmp_path / "cluster", local)
    assert read_metadata(tmp_path / "cluster" / "meta")["input_rows"] == len(rows)
