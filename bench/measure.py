"""Run a command as a subprocess and measure it: wall seconds and peak memory of its process tree.

Memory is the sum of the resident set sizes (RSS) of the process and all its descendants (the
Python driver, the JVM spark-submit starts, the pyspark daemon and its forked workers), sampled
every `interval` seconds with psutil. Pages that forked workers share with the daemon count once
per process, so the sum is an upper bound of what the tree holds; a peak shorter than the
interval can be missed.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

MB = 1024 * 1024


@dataclass
class Measurement:
    cmd: list[str]
    returncode: int
    wall_seconds: float
    peak_rss_mb: float
    peak_jvm_mb: float
    peak_python_mb: float
    max_processes: int
    loadavg_before: float
    loadavg_after: float
    stdout: str
    stderr: str
    samples: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def summary(self) -> dict[str, Any]:
        """The JSON-friendly part (no captured output, which only matters on failure)."""
        return {
            "returncode": self.returncode,
            "wall_seconds": round(self.wall_seconds, 3),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "peak_jvm_mb": round(self.peak_jvm_mb, 1),
            "peak_python_mb": round(self.peak_python_mb, 1),
            "max_processes": self.max_processes,
            "loadavg_before": round(self.loadavg_before, 2),
            "loadavg_after": round(self.loadavg_after, 2),
            **self.extra,
        }


class _TreeSampler(threading.Thread):
    """Samples the summed RSS of a process tree until stopped; keeps the peaks."""

    def __init__(self, pid: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.interval = interval
        self.stop = threading.Event()
        self.peak = self.peak_jvm = self.peak_python = 0
        self.max_processes = 0
        self.samples = 0
        self.cpu: dict[int, float] = {}  # last user+system seconds seen per process of the tree
        self.seen: dict[int, psutil.Process] = {}  # every process of the tree, to wait for

    def sample(self) -> None:
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return
        total = jvm = python = 0
        for proc in procs:
            self.seen.setdefault(proc.pid, proc)
            try:
                rss = proc.memory_info().rss
                name = proc.name()
                times = proc.cpu_times()
            except psutil.Error:
                continue
            self.cpu[proc.pid] = times.user + times.system
            total += rss
            if name == "java":
                jvm += rss
            elif name.startswith("python"):
                python += rss
        self.samples += 1
        self.peak = max(self.peak, total)
        self.peak_jvm = max(self.peak_jvm, jvm)
        self.peak_python = max(self.peak_python, python)
        self.max_processes = max(self.max_processes, len(procs))

    def run(self) -> None:
        while not self.stop.is_set():
            self.sample()
            self.stop.wait(self.interval)


def run_measured(
    cmd: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    interval: float = 0.1,
    timeout: float | None = None,
    linger: float = 30.0,
) -> Measurement:
    """Run `cmd` to completion (killing its tree after `timeout` seconds) and measure it.

    The wall time ends when `cmd` exits; descendants still shutting down (a JVM finishing its
    event log) are then waited for up to `linger` seconds, untimed, and killed after that.
    """
    full_env = {**os.environ, **(env or {})}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        load_before = os.getloadavg()[0]
        busy_before = _busy_seconds()
        start = time.monotonic()
        proc = subprocess.Popen(list(cmd), stdout=out, stderr=err, env=full_env, cwd=cwd)
        sampler = _TreeSampler(proc.pid, interval)
        sampler.start()
        try:
            returncode = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_tree(proc.pid)
            returncode = proc.wait()
            err.write(f"\nbench: killed after {timeout} s\n")
        wall = time.monotonic() - start
        busy = _busy_seconds() - busy_before
        sampler.stop.set()
        sampler.join()
        _, alive = psutil.wait_procs(list(sampler.seen.values()), timeout=linger)
        for rest in alive:
            with contextlib.suppress(psutil.Error):
                rest.kill()
        tree_cpu = sum(sampler.cpu.values())
        # CPU seconds the machine spent on processes outside the measured tree, as a share of
        # all the CPU there was: > 0 means someone else was running at the same time.
        others = max(busy - tree_cpu, 0.0) / (wall * (os.cpu_count() or 1))
        out.seek(0)
        err.seek(0)
        return Measurement(
            cmd=list(cmd),
            returncode=returncode,
            wall_seconds=wall,
            peak_rss_mb=sampler.peak / MB,
            peak_jvm_mb=sampler.peak_jvm / MB,
            peak_python_mb=sampler.peak_python / MB,
            max_processes=sampler.max_processes,
            loadavg_before=load_before,
            loadavg_after=os.getloadavg()[0],
            stdout=out.read(),
            stderr=err.read(),
            samples=sampler.samples,
            extra={"tree_cpu_seconds": round(tree_cpu, 2), "others_cpu_share": round(others, 3)},
        )


def kill_tree(pid: int) -> None:
    """End the process `pid` started by us and its descendants (children first)."""
    try:
        root = psutil.Process(pid)
        procs = [*root.children(recursive=True), root]
    except psutil.Error:
        return
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(procs, timeout=10)


def _busy_seconds() -> float:
    t = psutil.cpu_times()
    return float(t.user + t.system + sum(getattr(t, k, 0.0) for k in ("nice", "irq", "softirq")))


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None
