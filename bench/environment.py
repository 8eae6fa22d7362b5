"""Machine, versions, date and commit of a bench session."""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("pyspark", "numpy", "pandas", "pyarrow", "psutil", "matplotlib")


def git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    return done.stdout.strip()


def environment(arrow_var: str) -> dict[str, Any]:
    import psutil

    from selection.engine import transfer

    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(
                (ln.split(":", 1)[1].strip() for ln in handle if ln.startswith("model name")), cpu
            )
    except OSError:
        pass
    versions = {"python": platform.python_version()}
    for pkg in PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = "not installed"
    java = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False)
    versions["java"] = (java.stderr.splitlines() or ["unknown"])[0]
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "versions": versions,
        "commit": git("rev-parse", "--short", "HEAD"),
        # What is measured is selection/ and jobs/ (and the bench's own floors).
        "dirty": bool(git("status", "--porcelain", "--", "selection", "jobs", "bench/floor.py")),
        # The engine reads its row-transfer switch from a Spark conf (ROW_TRANSFER_CONF).
        "arrow_switch": hasattr(transfer, "ROW_TRANSFER_CONF"),
    }
