"""docs/benchmarks.md (and its plot) from bench/recorded/results.json; never edited by hand.

    python -m bench.report [--results bench/recorded/results.json] [--docs-dir docs] [--quick]

The tables and verdicts are computed from the recorded runs; the reading of them lives in
bench/analysis.md and is copied in as it is.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import plan, ssl_study, status, tables, targets
from bench.results import Results

ROOT = Path(__file__).resolve().parent.parent
RECORDED = ROOT / "bench" / "recorded"
TEMPLATE = ROOT / "bench" / "benchmarks_template.md"
ANALYSIS = ROOT / "bench" / "analysis.md"
PLOT = "benchmarks_scaling.png"


def al_name(batch: int) -> str:
    """The record and plot stem of the learning curve at one batch size."""
    return f"al_curve_b{batch}"


def recorded_curves() -> list[dict[str, Any]]:
    """Every recorded learning curve, smallest batch first."""
    found = [json.loads(p.read_text()) for p in RECORDED.glob("al_curve_b*.json")]
    return sorted(found, key=lambda al: int(al["batch"]))


def al_lines(curves: list[dict[str, Any]]) -> list[str]:
    if not curves:
        return ["Not run yet: `python -m bench.al_curve` writes it."]
    lines: list[str] = []
    for al in curves:
        lines += [f"### Batches of {al['batch']}", "", *al_curve_lines(al), ""]
    return lines[:-1]


def al_curve_lines(al: dict[str, Any]) -> list[str]:
    labels = al["labels"]
    picks = sorted({labels[0], labels[len(labels) // 3], labels[2 * len(labels) // 3], labels[-1]})
    rows = []
    for name, curve in al["curves"].items():
        cells = [
            f"{curve['mean'][labels.index(x)]:.3f} ± {curve['std'][labels.index(x)]:.3f}"
            for x in picks
        ]
        rows.append([name, *cells])
    return [
        f"![accuracy against labels spent]({al_name(al['batch'])}.png)",
        "",
        al["description"],
        "",
        *tables.table(["strategy", *(f"{x} labels" for x in picks)], rows),
    ]


def plot(results: Results, groups: list[plan.Group], path: Path) -> str | None:
    """Wall time and peak memory against rows for each job (ids checked); else why not."""
    series: dict[str, list[tuple[int, float, float]]] = {}
    for g, c, p in tables.picked_cells(results, groups):
        if not c.spark or c.master != plan.MASTER or c.classes != plan.CLASSES:
            continue
        if c.kind == plan.JOB and not c.ids and c.key != plan.uncapped(c.n).key:
            continue  # the default (ids checked) of each strategy, and uncapped as measured
        if not g.name.startswith(("scan", "embed")) or (
            c.kind == plan.FLOOR and not g.name.startswith("scan")
        ):
            continue
        if not p.ok:
            continue
        label = c.label + ("" if c.kind != plan.JOB or c.ids else " no id check")
        wall, peak = p.median("wall_seconds"), p.peak()
        if wall is not None and peak is not None:
            series.setdefault(label, []).append((c.n, wall, peak))
    if not series:
        return "no plot: nothing measured yet"
    try:
        import matplotlib
    except ImportError:
        return "no plot: matplotlib is not installed (`make bench` installs it)"
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(12, 4.8))
    for label, pts in sorted(series.items()):
        pts.sort()
        style = "--" if "floor" in label else "-o"
        ax_t.plot([p[0] for p in pts], [p[1] for p in pts], style, label=label, markersize=3)
        ax_m.plot([p[0] for p in pts], [p[2] for p in pts], style, label=label, markersize=3)
    for ax, title, unit in (
        (ax_t, "wall time", "seconds, whole process (median)"),
        (ax_m, "peak memory", "MB, RSS of the process tree"),
    ):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("rows")
        ax.set_ylabel(unit)
        ax.set_title(f"{title} against rows ({plan.MASTER}, 1 GB driver)")
        ax.grid(True, which="both", alpha=0.3)
    ax_m.legend(fontsize=6, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def write(results: Results, docs: Path, *, profile: str = "full") -> list[Path]:
    """The page (and the plot when matplotlib is there); what it was written from is `results`."""
    sizes = plan.PROFILES[profile]
    reps = 1 if profile == "quick" else plan.REPS
    groups = plan.build(sizes, arrow=True)
    docs.mkdir(parents=True, exist_ok=True)
    written = []
    why_not = plot(results, groups, docs / PLOT)
    if why_not is None:
        written.append(docs / PLOT)
    rows = targets.all_rows(results, sizes, reps)
    verdicts = [r.verdict.split(" (")[0] for r in rows]
    parts = {
        "summary": (
            f"{verdicts.count('**met**')} met, {verdicts.count('**missed**')} missed, "
            f"{verdicts.count('not measured')} not measured of {len(rows)} rows"
        ),
        "plan": "\n".join(status.plan_table(groups, results, reps)),
        "environment": "\n".join(status.environment_lines(results)),
        "data": "\n".join(status.data_lines(results)),
        "targets": "\n".join(tables.target_table(rows)),
        "job_table": "\n".join(tables.job_table(results, groups)),
        "time_table": "\n".join(tables.time_table(results, groups)),
        "spark_jobs": "\n".join(tables.spark_job_lines(results, groups, sizes)),
        "speedup_table": "\n".join(tables.speedup_table(results, sizes)),
        "exact_table": "\n".join(tables.exact_table(results, sizes)),
        "numpy_table": "\n".join(tables.numpy_table(results, groups)),
        "failures": "\n".join(status.failure_lines(results, groups)),
        "missing": "\n".join(status.missing_lines(results, groups, profile == "quick")),
        "plot": f"![wall time and memory against rows]({PLOT})"
        if why_not is None
        else f"({why_not})",
        "al_section": "\n".join(al_lines(recorded_curves())),
        "ssl_section": "\n".join(ssl_study.section()),
        "analysis": ANALYSIS.read_text().strip() if ANALYSIS.exists() else "(none yet)",
        "quiet": f"{targets.QUIET:.0%}",
    }
    text = TEMPLATE.read_text()
    for key, value in parts.items():
        text = text.replace("{{" + key + "}}", value)
    (docs / "benchmarks.md").write_text(text)
    written.insert(0, docs / "benchmarks.md")
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.report", description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RECORDED / "results.json")
    parser.add_argument("--docs-dir", type=Path, default=ROOT / "docs")
    parser.add_argument("--quick", action="store_true", help="results of a --quick run")
    args = parser.parse_args(argv)
    try:
        results = Results.load(args.results)
    except ValueError as exc:
        print(f"bench.report: {exc}", file=sys.stderr)
        return 1
    for path in write(results, args.docs_dir, profile="quick" if args.quick else "full"):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
