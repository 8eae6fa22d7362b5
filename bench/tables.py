"""The tables of docs/benchmarks.md besides the targets: every cell, where its time goes, the
baselines, failures and what was not measured."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from bench import plan, targets
from bench.plan import Cell, Group
from bench.results import Picked, Results, median_of

X, DASH = "\u00d7", "\u2013"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    if not rows:
        return ["(nothing measured yet)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def fmt(value: float | None, spec: str = ".1f", suffix: str = "") -> str:
    return DASH if value is None else f"{value:{spec}}{suffix}"


def target_table(rows: list[targets.Row]) -> list[str]:
    return table(
        ["target", "rows", "measured", "verdict", "runs", "commit", "group"],
        [[r.target, r.rows, r.measured, r.verdict, r.runs, r.commit, r.group] for r in rows],
    )


def picked_cells(results: Results, groups: list[Group]) -> list[tuple[Group, Cell, Picked]]:
    out = []
    for g in groups:
        for c in (*g.cells, *g.once):
            p = results.pick(c.key)
            if p is not None:
                out.append((g, c, p))
    return out


def where(c: Cell) -> str:
    bits = [f"{c.n:,}"] + ([f"C={c.classes}"] if c.classes != plan.CLASSES else [])
    return " ".join(bits)


def ids_text(c: Cell) -> str:
    return ("checked" if c.ids else "off") if c.kind == plan.JOB else DASH


def job_table(results: Results, groups: list[Group]) -> list[str]:
    rows = []
    floors = {}
    for g, c, p in picked_cells(results, groups):
        if not c.spark:
            continue
        wall = p.median("wall_seconds")
        if c.kind == plan.FLOOR:
            floors[g.name, c.n, c.classes] = wall
        base = floors.get((g.name, c.n, c.classes))
        ok = p.ok
        rows.append(
            [
                g.name,
                where(c),
                c.master,
                c.label,
                ids_text(c),
                f"{len(ok)}/{len(p.runs)}",
                fmt(wall),
                fmt(wall / base if wall and base and c.kind != plan.FLOOR else None, ".2f", X),
                fmt(p.peak(), ",.0f"),
                f"{fmt(max((r['peak_jvm_mb'] for r in ok), default=None), ',.0f')} / "
                f"{fmt(max((r['peak_python_mb'] for r in ok), default=None), ',.0f')}",
                fmt(p.median("others_cpu_share"), ".0%"),
                p.commit,
            ]
        )
    return table(
        [
            "group",
            "rows",
            "master",
            "job",
            "id check",
            "runs",
            "wall s",
            f"{X} floor",
            "peak MB",
            "JVM / Python MB",
            "others' CPU",
            "commit",
        ],
        rows,
    )


def spark_median(runs: list[dict[str, Any]], field: str) -> float | None:
    values = [
        float(r["spark"][field])
        for r in runs
        if r.get("spark") and r["spark"].get(field) is not None
    ]
    return statistics.median(values) if values else None


def phase_names(picks: list[Picked]) -> list[str]:
    names: dict[str, None] = {}
    for p in picks:
        for r in p.ok:
            for name, _ in r.get("phases") or []:
                names.setdefault(name, None)
    return list(names)


def time_table(results: Results, groups: list[Group]) -> list[str]:
    """Per cell: start-up, the job's phases, Spark jobs and the seconds inside them."""
    cells = [(g, c, p) for g, c, p in picked_cells(results, groups) if c.spark and p.ok]
    names = phase_names([p for _, c, p in cells if c.kind == plan.JOB])
    rows = []
    for _g, c, p in cells:
        wall = p.median("wall_seconds")
        own = (
            p.median("job_seconds")
            if c.kind == plan.JOB
            else median_of([r["facts"] for r in p.ok], "seconds")
        )  # the floor's clock starts once its session is up
        phases = {}
        for name in names:
            values = [s for r in p.ok for n, s in (r.get("phases") or []) if n == name]
            phases[name] = statistics.median(values) if values else None
        in_jobs = spark_median(p.ok, "in_jobs_seconds")
        rows.append(
            [
                where(c),
                c.master,
                c.label,
                ids_text(c),
                fmt(wall),
                fmt(wall - own if wall is not None and own is not None else None),
                *(fmt(phases[n]) for n in names),
                fmt(spark_median(p.ok, "jobs"), ".0f"),
                fmt(spark_median(p.ok, "tasks"), ".0f"),
                fmt(in_jobs),
                fmt(own - in_jobs if own is not None and in_jobs is not None else None),
            ]
        )
    return table(
        [
            "rows",
            "master",
            "job",
            "id check",
            "wall s",
            "start s",
            *(f"{n} s" for n in names),
            "Spark jobs",
            "tasks",
            "in Spark jobs s",
            "job clock outside them s",
        ],
        rows,
    )


def spark_job_lines(results: Results, groups: list[Group], sizes: plan.Sizes) -> list[str]:
    """The Spark jobs of one run of each strategy: where the per-job time goes."""
    lines = []
    keep = {sizes.scan[min(1, len(sizes.scan) - 1)], sizes.embed[0]}
    for _g, c, p in picked_cells(results, groups):
        if c.kind != plan.JOB or c.n not in keep or c.master != plan.MASTER or not p.ok:
            continue
        if c.strategy in plan.EMBEDDING and c.n != sizes.embed[0]:
            continue
        if c.strategy not in plan.EMBEDDING and not c.ids:
            continue
        run = sorted(p.ok, key=lambda r: r["wall_seconds"])[len(p.ok) // 2]
        jobs = (run.get("spark") or {}).get("job_list") or []
        listed = ", ".join(f"{name} {fmt(s)} s" for name, s in jobs) or "no event log"
        lines.append(f"- {c.label} at {c.n:,} rows ({run['wall_seconds']:.1f} s): {listed}")
    return lines or ["- (nothing measured yet)"]


def exact_table(results: Results, sizes: plan.Sizes) -> list[str]:
    rows = []
    n = sizes.exact
    for s in plan.EMBEDDING:
        base = results.pick(Cell(plan.BASELINE, n, strategy=s.value).key)
        qual = results.pick(Cell(plan.QUALITY, n, strategy=s.value).key)
        jobs = {a: results.pick(plan.job(s, n, arrow=a).key) for a in ("off", "auto")}
        if base is None and jobs["off"] is None and jobs["auto"] is None:
            continue
        q = qual.ok[0]["facts"] if qual and qual.ok else {}
        facts = [r["facts"] for r in base.ok] if base else []
        mine = (jobs["off"].ok[-1].get("figures") or {}) if jobs["off"] and jobs["off"].ok else {}
        extra = (
            f"job's own radius {fmt(mine.get('covering_radius'), '.4g')}, certified ≤ "
            f"{fmt(mine.get('certified_ratio'), '.2f')}{X} OPT"
            if s == "diversity"
            else f"random picks' cost {fmt(q.get('random_kmeans_cost'), '.5g')}"
        )
        rows.append(
            [
                f"{n:,}",
                s.value,
                fmt(jobs["off"].median("wall_seconds") if jobs["off"] else None),
                fmt(jobs["auto"].median("wall_seconds") if jobs["auto"] else None),
                fmt(base.median("wall_seconds") if base else None),
                fmt(median_of(facts, "read_seconds")),
                fmt(median_of(facts, "select_seconds")),
                fmt(base.peak() if base else None, ",.0f"),
                extra,
            ]
        )
    return table(
        [
            "rows",
            "strategy",
            "job s (no pyarrow)",
            "job s (pyarrow)",
            "numpy s (process)",
            "numpy read s",
            "numpy algorithm s",
            "numpy peak MB",
            "notes",
        ],
        rows,
    )


def numpy_table(results: Results, groups: list[Group]) -> list[str]:
    rows = []
    for _g, c, p in picked_cells(results, groups):
        if c.kind != plan.BASELINE or c.strategy in plan.EMBEDDING:
            continue
        facts = [r["facts"] for r in p.ok]
        rows.append(
            [
                f"{c.n:,}",
                c.label,
                fmt(p.median("wall_seconds")),
                fmt(median_of(facts, "read_seconds")),
                fmt(p.peak(), ",.0f"),
                p.commit,
            ]
        )
    return table(["rows", "selection", "process s", "read s", "peak MB", "commit"], rows)


def speedup_table(results: Results, sizes: plan.Sizes) -> list[str]:
    """CPU seconds and cores kept busy of each pinned / local[2] pair: can two cores help?"""
    n = sizes.speedup
    pairs = [
        (
            plan.floor(n, f"speedup-{plan.short(n)}", master=plan.PINNED),
            plan.floor(n, f"scan-{plan.short(n)}"),
        )
    ]
    pairs += [
        (c, plan.job(plan.Strategy(c.strategy), n, mode=c.mode, capped=c.capped))
        for c in plan.speedup_cases(n, plan.PINNED)
    ]
    rows = []
    for one, two in pairs:
        a, b = results.pick(one.key), results.pick(two.key)
        if not (a and b and a.ok and b.ok):
            continue
        busy = [
            median_of([{"x": r["tree_cpu_seconds"] / r["wall_seconds"]} for r in p.ok], "x")
            for p in (a, b)
        ]
        rows.append(
            [
                f"{n:,}",
                one.label,
                fmt(a.median("wall_seconds")),
                fmt(b.median("wall_seconds")),
                f"{fmt(a.median('tree_cpu_seconds'), '.0f')} / "
                f"{fmt(b.median('tree_cpu_seconds'), '.0f')}",
                f"{fmt(busy[0], '.2f')} / {fmt(busy[1], '.2f')}",
                f"{fmt(a.median('others_cpu_share'), '.0%')} / "
                f"{fmt(b.median('others_cpu_share'), '.0%')}",
            ]
        )
    return table(
        [
            "rows",
            "job",
            f"{plan.PINNED} s",
            f"{plan.MASTER} s",
            "CPU s [1] / [2]",
            "cores kept busy [1] / [2]",
            "others' CPU [1] / [2]",
        ],
        rows,
    )
