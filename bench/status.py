"""What the page says about the runs themselves: the plan, the sessions and machine, the data,
failures and what is not measured yet."""

from __future__ import annotations

from bench.plan import Group
from bench.results import Results
from bench.tables import X, picked_cells, table


def plan_table(groups: list[Group], results: Results, reps: int = 0) -> list[str]:
    from bench.estimate import plan_rows

    header = ["group", "cells", "reps", "est. minutes", "data generation min (first time)",
              "what", "inputs"]  # fmt: skip
    return [
        *table(header, plan_rows([g for g in groups if g.default], results, reps)),
        "",
        "Estimates: the measured median of each cell where results.json has one, else the "
        "targets' ratios to a quiet-machine floor (so a job that misses its target runs longer).",
    ]


def failure_lines(results: Results, groups: list[Group]) -> list[str]:
    lines = []
    for g, c, p in picked_cells(results, groups):
        for r in p.failed:
            lines.append(
                f"- {g.name}: {c.label} at {c.n:,} rows ({c.master}), run {r['rep'] + 1}: "
                f"exit code {r['returncode']} after {r['wall_seconds']:.0f} s, "
                f"`{r.get('error', '')}`"
            )
    return lines or ["- none"]


def missing_lines(results: Results, groups: list[Group], quick: bool) -> list[str]:
    lines = []
    extra = " --quick" if quick else ""
    for g in groups:
        if not g.default:
            continue
        cells = [c for c in (*g.cells, *g.once) if results.pick(c.key) is None]
        if cells:
            what = (
                "every cell"
                if len(cells) == len(g.cells) + len(g.once)
                else ", ".join(f"{c.label} ({c.n:,})" for c in cells)
            )
            lines.append(
                f"- {g.name}: {what}. To measure: "
                f"`make bench BENCH_ARGS='--groups {g.name}{extra}'`"
            )
    last = results.latest
    for skip in (last or {}).get("skipped", []):
        lines.append(f"- last session, {skip['group']}: {skip['reason']}")
    return lines or ["- nothing"]


def environment_lines(results: Results) -> list[str]:
    lines = []
    for s in results.sessions:
        env = s.get("environment", {})
        v = env.get("versions", {})
        groups = ", ".join(f"{k} ({v})" if v != "complete" else k for k, v in s["groups"].items())
        lines.append(
            f"- session {s['id']}: {s['date']}, commit {s['commit']}"
            + (" **with uncommitted changes to selection/ or jobs/**" if s.get("dirty") else "")
            + f", {s.get('minutes', 0)} min, groups: {groups or 'none'}"
            + (
                ""
                if env.get("arrow_switch", True)
                else "; the job had no SELECTION_ARROW switch, so both diversity/badge paths ran "
                "the same code"
            )
        )
        lines.append(
            f"  - {env.get('cpu', '?')}, {env.get('cores', '?')} cores, "
            f"{env.get('memory_gb', '?')} GB; Python {v.get('python')}, PySpark "
            f"{v.get('pyspark')}, {v.get('java')}, numpy {v.get('numpy')}, pyarrow "
            f"{v.get('pyarrow')}, pandas {v.get('pandas')}"
        )
    commits = results.commits()
    if len(commits) > 1:
        lines.append(
            f"- **rows were measured at different commits** ({', '.join(commits)}): "
            "the commit column of each table says which"
        )
    return lines or ["- no session recorded yet"]


def data_lines(results: Results) -> list[str]:
    rows = sorted(results.data.values(), key=lambda d: (d["classes"], d["rows"]))
    return [
        ", ".join(
            f"{d['rows']:,} rows {X} {d['classes']} classes = {d['files']} files, "
            f"{d['bytes'] / 1e6:,.0f} MB"
            for d in rows
        )
        or "none generated yet"
    ]
