"""What a run says about itself: the job's phase lines on stderr and Spark's event log.

The job logs one INFO line per phase ending in `seconds=`; the event log (spark.eventLog.enabled,
one JSON event per line) gives the Spark jobs it ran and how long they took, so the seconds a
run spends outside any Spark job (JVM start, listing, schema, planning, commit) can be told
apart from the scans.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

_PHASE = re.compile(r"^\S+ INFO (\w+)\s.*?\bseconds=([0-9.]+)\s*$", re.MULTILINE)
MAX_NAMED_JOBS = 40


def phases(stderr: str) -> tuple[list[tuple[str, float]], float | None]:
    """([(phase, seconds)] in log order, the `done` line's seconds); a repeated name gets #2."""
    out: list[tuple[str, float]] = []
    done = None
    seen: dict[str, int] = {}
    for name, seconds in _PHASE.findall(stderr):
        if name == "done":
            done = float(seconds)
            continue
        seen[name] = seen.get(name, 0) + 1
        out.append((name if seen[name] == 1 else f"{name}#{seen[name]}", float(seconds)))
    return out, done


def union_seconds(intervals: list[tuple[float, float]]) -> float:
    """Length of the union of [start, end] intervals (jobs may overlap)."""
    total, end = 0.0, float("-inf")
    for lo, hi in sorted(intervals):
        if hi <= end:
            continue
        total += hi - max(lo, end)
        end = hi
    return total


def _job_name(event: dict[str, Any]) -> str:
    props = event.get("Properties") or {}
    name = props.get("callSite.short") or ""
    if not name:
        stages = event.get("Stage Infos") or [{}]
        name = str(stages[-1].get("Stage Name", "?"))
    # "collect at /abs/path/runner.py:140" -> "collect at runner.py:140"
    return re.sub(r"(\s)\S*/", r"\1", name)


def summarize_events(lines: list[str]) -> dict[str, Any]:
    """Spark jobs, stages, tasks and seconds inside jobs, from event-log lines."""
    starts: dict[int, tuple[float, str]] = {}
    ends: dict[int, float] = {}
    stages = tasks = 0
    app_start: float | None = None
    app_end: float | None = None
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue  # the last line of a log cut short
        kind = event.get("Event", "")
        if kind == "SparkListenerJobStart":
            starts[event["Job ID"]] = (event["Submission Time"] / 1000, _job_name(event))
        elif kind == "SparkListenerJobEnd":
            ends[event["Job ID"]] = event["Completion Time"] / 1000
        elif kind == "SparkListenerStageCompleted":
            stages += 1
            tasks += int(event.get("Stage Info", {}).get("Number of Tasks", 0))
        elif kind == "SparkListenerApplicationStart":
            app_start = event["Timestamp"] / 1000
        elif kind == "SparkListenerApplicationEnd":
            app_end = event["Timestamp"] / 1000
    intervals = [(t, ends[j]) for j, (t, _) in starts.items() if j in ends]
    named = [
        [name, round(ends[j] - t, 2) if j in ends else None]
        for j, (t, name) in sorted(starts.items())
    ]
    return {
        "jobs": len(starts),
        "stages": stages,
        "tasks": tasks,
        "in_jobs_seconds": round(union_seconds(intervals), 2),
        "app_seconds": None
        if app_start is None or app_end is None
        else round(app_end - app_start, 2),
        "job_list": named[:MAX_NAMED_JOBS],
    }


def read_event_log(folder: Path) -> dict[str, Any] | None:
    """The summary of the one application logged under `folder`, None when there is none."""
    files = sorted(p for p in folder.glob("*") if p.is_file()) if folder.exists() else []
    if not files:
        return None
    lines: list[str] = []
    for path in files:  # one file per application; the bench starts one per run
        lines += path.read_text(errors="replace").splitlines()
    return summarize_events(lines)
