"""A Spark standalone cluster on loopback: one master and two workers started from the installed
pyspark with `spark-class`, for the tests marked `cluster`.

Every daemon runs in its own process group, bound to 127.0.0.1 on free ports, with its log in the
test's temporary directory; the fixture stops them (and the executors they launched) however the
tests end. The tests are skipped only when Java or the loopback interface is missing; a cluster
that does not come up is a failure, reported with the tail of its logs.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyspark
import pytest

REPO = Path(__file__).resolve().parents[2]
SPARK_HOME = Path(pyspark.__file__).resolve().parent
LOOPBACK = "127.0.0.1"
WORKERS = 2
START_TIMEOUT = 90.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _java() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


def _skip_reason() -> str | None:
    if _java() is None:
        return "Java is not installed (no JAVA_HOME, no java on PATH): install openjdk-17"
    try:
        free_port()
    except OSError as exc:
        return f"cannot bind to the loopback interface {LOOPBACK}: {exc}"
    if not (SPARK_HOME / "bin" / "spark-class").exists():
        return f"the installed pyspark at {SPARK_HOME} has no bin/spark-class"
    return None


def _get_json(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read().decode("utf-8"))


def _children(pid: int) -> list[int]:
    """Direct children of `pid`, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # the command name may hold spaces and parentheses: fields start after the last ')'
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            found.append(int(entry.name))
    return found


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]


@dataclass
class Daemon:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM, then SIGKILL, to the daemon's whole process group (its executors too)."""
        group = self.process.pid  # start_new_session: the daemon leads its own group
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, sig)
            try:
                self.process.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        # Executors of a killed worker may linger a moment in the group; make sure they go.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class StandaloneCluster:
    """A master and `WORKERS` one-core workers; `submit` runs spark-submit against them."""

    root: Path
    master_port: int = field(default_factory=free_port)
    master_ui_port: int = field(default_factory=free_port)
    master: Daemon | None = None
    workers: dict[int, Daemon] = field(default_factory=dict)

    @property
    def master_url(self) -> str:
        return f"spark://{LOOPBACK}:{self.master_port}"

    @property
    def env(self) -> dict[str, str]:
        """The environment of the daemons and of spark-submit: loopback only, this pyspark."""
        conf_dir = self.root / "conf"
        conf_dir.mkdir(parents=True, exist_ok=True)
        return {
            **os.environ,
            "SPARK_HOME": str(SPARK_HOME),
            "SPARK_CONF_DIR": str(conf_dir),  # no user spark-defaults.conf
            "SPARK_LOCAL_IP": LOOPBACK,  # RPC and every web UI bind to loopback
            "SPARK_LOCAL_HOSTNAME": LOOPBACK,
            "SPARK_LOG_DIR": str(self.root / "logs"),
            "PYSPARK_PYTHON": sys.executable,
            "PYSPARK_DRIVER_PYTHON": sys.executable,
        }

    def _launch(self, name: str, *args: str) -> Daemon:
        log = self.root / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as handle:
            process = subprocess.Popen(
                [str(SPARK_HOME / "bin" / "spark-class"), *args],
                env=self.env,
                stdout=handle,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        return Daemon(name, process, log)

    def start(self) -> None:
        self.master = self._launch(
            "master",
            "org.apache.spark.deploy.master.Master",
            "--host", LOOPBACK,
            "--port", str(self.master_port),
            "--webui-port", str(self.master_ui_port),
        )  # fmt: skip
        self._wait(lambda: self.state().get("status") == "ALIVE", "the master to be ALIVE")
        for index in range(WORKERS):
            self.start_worker(index)
        self.wait_for_workers()

    def start_worker(self, index: int) -> None:
        work = self.root / f"work-{index}"
        work.mkdir(parents=True, exist_ok=True)
        self.workers[index] = self._launch(
            f"worker-{index}",
            "org.apache.spark.deploy.worker.Worker",
            "--host", LOOPBACK,
            "--port", str(free_port()),
            "--webui-port", str(free_port()),
            "--cores", "1",
            "--memory", "1g",
            "--work-dir", str(work),
            self.master_url,
        )  # fmt: skip

    def state(self) -> dict[str, Any]:
        """The master's JSON status page ({} while it is not up)."""
        try:
            document: dict[str, Any] = _get_json(f"http://{LOOPBACK}:{self.master_ui_port}/json/")
        except (OSError, ValueError):
            return {}
        return document

    def alive_workers(self) -> int:
        return sum(1 for w in self.state().get("workers", []) if w.get("state") == "ALIVE")

    def wait_for_workers(self) -> None:
        self._wait(lambda: self.alive_workers() >= WORKERS, f"{WORKERS} workers to register")

    def _wait(self, condition: Any, what: str, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            dead = [d for d in self.daemons() if not d.alive()]
            if dead:
                pytest.fail(
                    f"{dead[0].name} exited while waiting for {what}:\n{dead[0].log_tail()}"
                )
            time.sleep(0.25)
        logs = "\n".join(f"--- {d.name}\n{d.log_tail(15)}" for d in self.daemons())
        pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}:\n{logs}")

    def daemons(self) -> list[Daemon]:
        return [d for d in [self.master, *self.workers.values()] if d is not None]

    def ensure_workers(self) -> None:
        """Restart workers a test killed, so every test starts with the full cluster."""
        for index, worker in list(self.workers.items()):
            if not worker.alive():
                worker.stop()
                self.start_worker(index)
        self.wait_for_workers()
        # A killed worker stays listed (DEAD or UNKNOWN) for a while; enough if 2 are ALIVE.

    def executor_pids(self, index: int) -> dict[str, int]:
        """Executor id -> pid of the executor JVMs that worker `index` launched."""
        found = {}
        for pid in _children(self.workers[index].process.pid):
            args = cmdline(pid)
            if any("CoarseGrainedExecutorBackend" in a for a in args) and "--executor-id" in args:
                found[args[args.index("--executor-id") + 1]] = pid
        return found

    def kill_worker(self, index: int) -> None:
        """SIGKILL worker `index` and the executors it launched: a machine lost mid-job."""
        worker = self.workers[index]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.process.pid, signal.SIGKILL)
        worker.process.wait(timeout=30)

    def stop(self) -> None:
        for daemon in [*self.workers.values(), self.master]:
            if daemon is not None:
                daemon.stop()

    def submit_command(self, script: Path, *args: str, conf: Mapping[str, str] = {}) -> list[str]:
        settings = {
            "spark.driver.host": LOOPBACK,
            "spark.driver.bindAddress": LOOPBACK,
            "spark.executor.memory": "512m",
            "spark.executor.cores": "1",
            "spark.cores.max": str(WORKERS),
            "spark.sql.shuffle.partitions": "4",
            "spark.sql.session.timeZone": "UTC",
            "spark.ui.showConsoleProgress": "false",
            "spark.ui.enabled": "false",
            **conf,
        }
        command = [str(SPARK_HOME / "bin" / "spark-submit"), "--master", self.master_url]
        for key, value in settings.items():
            command += ["--conf", f"{key}={value}"]
        return [*command, str(script), *args]

    def submit(
        self,
        script: Path,
        *args: str,
        env: Mapping[str, str] = {},
        conf: Mapping[str, str] = {},
        timeout: float = 180.0,
    ) -> subprocess.CompletedProcess[str]:
        """spark-submit `script` in client mode; the driver's output is merged into stdout."""
        return subprocess.run(
            self.submit_command(script, *args, conf=conf),
            env={**self.env, "PYTHONPATH": str(REPO), **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            cwd=REPO,
        )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandaloneCluster]:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    standalone = StandaloneCluster(tmp_path_factory.mktemp("standalone"))
    atexit.register(standalone.stop)  # also when pytest itself is interrupted
    try:
        standalone.start()
        yield standalone
    finally:
        standalone.stop()
        atexit.unregister(standalone.stop)


def run_logged(command: Sequence[str], log: Path, **kwargs: Any) -> subprocess.Popen[bytes]:
    """Start `command` with stdout and stderr in `log`, in its own process group."""
    with open(log, "wb") as handle:
        return subprocess.Popen(
            list(command),
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            **kwargs,
        )
