"""Synthetic bench results: sessions and runs as bench.run records them, without running."""

from __future__ import annotations

from typing import Any

from bench import plan
from bench.plan import Cell
from bench.results import COMPLETE, Results


def group_of(cell: Cell, sizes: plan.Sizes = plan.FULL) -> str:
    for g in plan.build(sizes, arrow=True):
        if any(c.key == cell.key for c in (*g.cells, *g.once)):
            return g.name
    raise KeyError(cell.key)


def session(results: Results, commit: str = "abc1234", *, dirty: bool = False,
            groups: dict[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    s = results.start_session({"date": "2026-12-01 10:00 UTC", "commit": commit, "dirty": dirty})
    s["groups"].update(groups or {})
    return s


def add(results: Results, s: dict[str, Any], cell: Cell, walls: list[float], *,
        ok: bool = True, peak: float = 1000.0, others: float = 0.0,
        facts: dict[str, Any] | None = None) -> None:  # fmt: skip
    """One run of `cell` per wall time; marks the cell's group complete in `s`."""
    group = group_of(cell)
    s["groups"].setdefault(group, COMPLETE)
    for rep, wall in enumerate(walls):
        record: dict[str, Any] = {
            "cell": cell.key,
            "group": group,
            "rep": rep,
            "kind": cell.kind,
            "n": cell.n,
            "ok": ok,
            "returncode": 0 if ok else 5,
            "wall_seconds": wall,
            "peak_rss_mb": peak,
            "peak_jvm_mb": peak * 0.9,
            "peak_python_mb": peak * 0.1,
            "others_cpu_share": others,
            "tree_cpu_seconds": wall,
        }
        if facts is not None:
            record["facts"] = facts
        if not ok:
            record["error"] = "error: boom"
        results.add(s, record)
