"""Running one cell once: its command and environment, the measured process, the parsed record.

Every cell is its own process, as spark-submit would run it, so the whole-process wall time
(Python and JVM start included) and the memory of the whole process tree are what is measured.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import plan, sparklog
from bench.generate import Spec
from bench.plan import Cell
from selection.engine.transfer import ROW_TRANSFER_CONF
from selection.job.config import ENV_VARS_BY_NAME
from selection.names import DEFAULT_MEMBER_PREFIX, METADATA_FILE, Strategy

ROOT = Path(__file__).resolve().parent.parent
# The engine's switch between the no-pyarrow and the mapInArrow path for diversity and badge.
# The bench assumes this name until selection.names defines the variable; the environment
# record says whether the job measured knew it.
ARROW_VAR = "SELECTION_ARROW"
DRIVER_MEMORY = "1g"  # Spark's default, stated so that nothing in the environment changes it
WIDE_SPREAD = 1.25  # class-centre spread at C = 1000 that gives ~40% of rows >= 0.9, as C = 10
# Committee inputs in smaller part files: one part (generated whole) stays ~150 MB in memory.
MEMBER_ROWS_PER_FILE = 250_000


def spec(n: int, classes: int, members: int = 0) -> Spec:
    spread = WIDE_SPREAD if classes > plan.CLASSES else None
    if not members:
        return Spec(n, plan.FEATURES, classes, spread=spread)
    return Spec(n, plan.FEATURES, classes, MEMBER_ROWS_PER_FILE, spread=spread, members=members)


def job_env(cell: Cell) -> dict[str, str]:
    """The contract's variables for a job cell (names checked against selection.names)."""
    env = {
        "SELECTION_STRATEGY": cell.strategy,
        "OUTPUT_FORMAT": "parquet",
        "RANDOM_SEED": str(plan.SEED),
        "CHECK_UNIQUE_IDS": str(cell.ids).lower(),
        "BATCH_SIZE": str(cell.batch or plan.BATCH_SIZE),
        "K_PER_CLASS": str(plan.K_PER_CLASS),
        "CONFIDENCE_THRESHOLD": str(plan.THRESHOLD),
        "MAX_SAMPLES": str(plan.MAX_SAMPLES if cell.capped else 0),
    }
    if cell.strategy == Strategy.UNCERTAINTY:
        env["UNCERTAINTY_MODE"] = cell.mode
    if cell.members:
        env["MEMBER_FIELD_PREFIX"] = DEFAULT_MEMBER_PREFIX
    if cell.agreement:
        env["REQUIRE_AGREEMENT"] = "true"
    unknown = sorted(set(env) - set(ENV_VARS_BY_NAME))
    if unknown:
        raise ValueError(f"the job no longer reads {', '.join(unknown)}; update bench/execute.py")
    env[ARROW_VAR] = cell.arrow
    return env


@dataclass(frozen=True)
class Context:
    data: dict[tuple[int, int, int], Path]  # (rows, classes, members) -> generated input
    work: Path  # job outputs and event logs
    timeout: float

    def out_dir(self, cell: Cell) -> Path:
        slug = "".join(ch if ch.isalnum() else "_" for ch in cell.key).strip("_")
        return self.work / "out" / slug


def command(cell: Cell, ctx: Context) -> list[str]:
    data = str(ctx.data[cell.input])
    master = "local[1]" if cell.master == plan.PINNED else cell.master
    out = ctx.out_dir(cell)
    py = [sys.executable, "-m"]
    if cell.kind == plan.FLOOR:
        cmd = [*py, "bench.floor", "--input", data, "--master", master]
    elif cell.kind == plan.WRITE_FLOOR:
        cmd = [
            *py,
            "bench.floor",
            "--input",
            data,
            "--master",
            master,
            "--write",
            str(out / "selected"),
            "--threshold",
            str(plan.THRESHOLD),
        ]
    elif cell.kind == plan.JOB:
        cmd = [
            *py,
            "jobs.active_sample_selection",
            "--master",
            master,
            "--job_type",
            plan.job_type(cell.strategy),
            "--input",
            data,
            "--output",
            str(out / "selected"),
            "--metadata-output",
            str(out / "metadata"),
            "--overwrite",
        ]
    else:
        cmd = [
            *py,
            "bench.baseline",
            "--input",
            data,
            "--strategy",
            cell.strategy,
            "--batch-size",
            str(plan.BATCH_SIZE),
            "--k-per-class",
            str(plan.K_PER_CLASS),
            "--threshold",
            str(plan.THRESHOLD),
            "--seed",
            str(plan.SEED),
        ]
        if cell.capped:
            cmd += ["--max-samples", str(plan.MAX_SAMPLES)]
        if cell.kind == plan.QUALITY:
            source = ctx.out_dir(plan.source_job(cell)) / "selected"
            cmd += ["--compare-only", "--compare-selected", str(source)]
    return ["taskset", "-c", "0", *cmd] if cell.master == plan.PINNED else cmd


def environment(cell: Cell, event_dir: Path | None) -> dict[str, str]:
    env = {
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        "SPARK_LOCAL_IP": os.environ.get("SPARK_LOCAL_IP", "127.0.0.1"),
        "PYTHONPATH": str(ROOT),
    }
    if cell.spark:
        # The engine's row-transfer switch: the required rdd path, or pyarrow where it imports.
        transfer = "rows" if cell.arrow == "off" else "auto"
        conf = [f"--driver-memory {DRIVER_MEMORY}", f"--conf {ROW_TRANSFER_CONF}={transfer}"]
        if event_dir is not None:
            conf += [
                "--conf spark.eventLog.enabled=true",
                f"--conf spark.eventLog.dir={event_dir.as_uri()}",
            ]
        env["PYSPARK_SUBMIT_ARGS"] = " ".join([*conf, "pyspark-shell"])
    if cell.kind == plan.JOB:
        env.update(job_env(cell))
    return env


def shell_line(cmd: Sequence[str], env: dict[str, str]) -> str:
    """The command as one copyable line, paths relative to the checkout."""
    shown = {k: v for k, v in env.items() if k not in ("PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON")}
    words = [*(f"{k}={shlex.quote(v)}" for k, v in shown.items())]
    words += [".venv/bin/python" if c == sys.executable else shlex.quote(c) for c in cmd]
    return " ".join(words).replace(str(ROOT) + "/", "")


def marker_facts(stdout: str, marker: str) -> dict[str, Any]:
    line = next((ln for ln in stdout.splitlines() if ln.startswith(marker)), "")
    return json.loads(line[len(marker) :]) if line else {}


def last_error(stdout: str, stderr: str) -> str:
    lines = [ln for ln in (stderr + stdout).splitlines() if ln.strip()]
    killed = [ln for ln in lines if ln.startswith("bench: killed")]
    if killed:
        return killed[-1]
    errors = [ln for ln in lines if ln.startswith("error:") or "Error" in ln]
    return (errors or lines or ["(no output)"])[-1][:400]


def run(cell: Cell, ctx: Context, *, rep: int, group: str) -> dict[str, Any]:
    """Run `cell` once; the record that goes into results.json."""
    from bench.measure import run_measured  # psutil: only where something is run

    event_dir = Path(tempfile.mkdtemp(prefix="eventlog-", dir=ctx.work)) if cell.spark else None
    try:
        cmd = command(cell, ctx)
        env = environment(cell, event_dir)
        m = run_measured(cmd, env=env, cwd=ROOT, timeout=ctx.timeout)
        record: dict[str, Any] = {
            "cell": cell.key,
            "group": group,
            "rep": rep,
            **{k: v for k, v in asdict(cell).items() if k != "group"},
            **m.summary(),
            "command": shell_line(cmd, environment(cell, None)),  # without the temporary log
        }
        ok = m.ok
        if cell.spark and event_dir is not None:
            record["spark"] = sparklog.read_event_log(event_dir)
        if cell.kind == plan.JOB:
            record["phases"], record["job_seconds"] = sparklog.phases(m.stderr)
            ok = ok and record["job_seconds"] is not None
            meta = ctx.out_dir(cell) / "metadata" / METADATA_FILE
            if m.ok and meta.exists():
                doc = json.loads(meta.read_text())
                record["selected_rows"] = doc.get("selected_rows")
                record["figures"] = {
                    k: v
                    for k, v in (doc.get("strategy_figures") or {}).items()
                    if isinstance(v, int | float) and not isinstance(v, bool)
                }
        elif cell.spark:
            record["facts"] = marker_facts(m.stdout, "BENCH_FLOOR ")
            ok = ok and bool(record["facts"])
        else:
            record["facts"] = marker_facts(m.stdout, "BENCH_BASELINE ")
            ok = ok and bool(record["facts"])
        record["ok"] = ok
        if not ok:
            record["error"] = last_error(m.stdout, m.stderr)
            record["stderr_tail"] = m.stderr[-3000:]
        return record
    finally:
        if event_dir is not None:
            shutil.rmtree(event_dir, ignore_errors=True)
