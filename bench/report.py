"""docs/benchmarks.md and docs/benchmarks_scaling.png from bench/results/results.json.

    python -m bench.report [--results bench/results/results.json] [--docs-dir docs]

The tables, the target verdicts and the plot are computed from the recorded runs; the reading
of them (why a target is missed) lives in bench/analysis.md, which is copied in as it is.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.measure import median

ROOT = Path(__file__).resolve().parent.parent
RECORDED = ROOT / "bench" / "recorded"  # the results the committed docs were written from
PLOT = "benchmarks_scaling.png"
AL_PLOT = "active_learning_curve.png"
TARGET_RATIO = {
    "confidence_threshold": 1.3,
    "top_k_per_class": 1.3,
    "uncertainty": 1.3,
    "diversity": 4.0,
    "badge": 12.0,
}
FLAT_MEMORY = 1.25  # job peak at the largest n over the smallest: "flat" if at most this
SPEEDUP = 1.7
X, DASH = "\u00d7", "\u2013"  # multiplication sign, en dash
ORDER = ["floor", "confidence_threshold", "top_k_per_class", "uncertainty", "diversity", "badge"]


def environment() -> dict[str, Any]:
    """Machine, versions, date and commit of a run."""
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(
                (ln.split(":", 1)[1].strip() for ln in handle if ln.startswith("model name")), cpu
            )
    except OSError:
        pass
    import psutil

    versions = {"python": platform.python_version()}
    for pkg in (
        "pyspark",
        "numpy",
        "pandas",
        "pyarrow",
        "scikit-activeml",
        "scikit-learn",
        "psutil",
        "matplotlib",
    ):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = "not installed"
    java = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False)
    versions["java"] = (java.stderr.splitlines() or ["unknown"])[0]

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "versions": versions,
        "commit": git("rev-parse", "--short", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--", "selection", "jobs")),
    }


# -- aggregation ------------------------------------------------------------------------------


QUIET = 0.15  # a run with less of the CPU going to other processes had the machine to itself


def quiet_only(results: dict[str, Any]) -> dict[str, Any]:
    """`results` with only the job runs during which others took < QUIET of the CPU."""
    runs = [
        r for r in results["runs"]
        if r["kind"] != "job" or r.get("others_cpu_share", 1.0) < QUIET
    ]  # fmt: skip
    return {**results, "runs": runs}


def runs_of(results: dict[str, Any], kind: str, case: str, n: int, **match: str) -> list[dict]:
    return [
        r
        for r in results["runs"]
        if r["kind"] == kind
        and r["case"] == case
        and r["n"] == n
        and r["ok"]
        and all(r.get(k, "") == v for k, v in match.items())
    ]


def med(runs: list[dict], key: str) -> float | None:
    return median([float(r[key]) for r in runs if r.get(key) is not None])


def peak(runs: list[dict]) -> float | None:
    return max((float(r["peak_rss_mb"]) for r in runs), default=None)


def fmt(value: float | None, spec: str = ".1f", suffix: str = "") -> str:
    return DASH if value is None else f"{value:{spec}}{suffix}"


def sizes(results: dict[str, Any]) -> list[int]:
    return sorted({r["n"] for r in results["runs"]})


def cases(results: dict[str, Any]) -> list[str]:
    seen = {r["case"] for r in results["runs"] if r["kind"] == "job"}
    return [c for c in ORDER if c in seen]


def job_row(results: dict[str, Any], case: str, n: int, master: str) -> dict[str, Any] | None:
    runs = runs_of(results, "job", case, n, master=master)
    if not runs:
        return None
    floor = med(runs_of(results, "job", "floor", n, master=master), "seconds")
    seconds = med(runs, "seconds")
    return {
        "runs": len(runs),
        "seconds": seconds,
        "wall": med(runs, "wall_seconds"),
        "rows_per_s": n / seconds if seconds else None,
        "ratio": seconds / floor if seconds and floor else None,
        "peak": peak(runs),
        "jvm": max(float(r["peak_jvm_mb"]) for r in runs),
        "python": max(float(r["peak_python_mb"]) for r in runs),
        "others": med(runs, "others_cpu_share"),
        "phases": phase_medians(runs),
        "cpu": med(runs, "tree_cpu_seconds"),
        # Cores the job kept busy on average over its whole process (start-up included).
        "busy": median([r["tree_cpu_seconds"] / r["wall_seconds"] for r in runs]),
    }


def phase_medians(runs: list[dict]) -> dict[str, float | None]:
    """Median seconds of the job's phases: read, select, the unique-id check, write."""
    names = {"read": "read", "select": "select", "validate#2": "ids", "write": "write"}
    found: dict[str, list[float]] = {v: [] for v in names.values()}
    for r in runs:
        seen: dict[str, int] = {}
        for phase, seconds in r.get("phases") or []:
            seen[phase] = seen.get(phase, 0) + 1
            key = f"{phase}#2" if phase == "validate" and seen[phase] == 2 else phase
            if key in names:
                found[names[key]].append(float(seconds))
    return {k: median(v) for k, v in found.items()}


# -- tables -----------------------------------------------------------------------------------


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def job_table(results: dict[str, Any], master: str) -> list[str]:
    rows = []
    for n in sizes(results):
        for case in cases(results):
            r = job_row(results, case, n, master)
            if r is None:
                continue
            rows.append(
                [
                    f"{n:,}",
                    case,
                    str(r["runs"]),
                    fmt(r["seconds"]),
                    fmt(r["wall"]),
                    fmt(r["rows_per_s"], ",.0f"),
                    fmt(r["ratio"], ".2f", X),
                    " / ".join(
                        fmt(r["phases"].get(k), ".0f") for k in ("read", "select", "ids", "write")
                    )
                    if case != "floor"
                    else DASH,
                    fmt(r["peak"], ",.0f"),
                    f"{r['jvm']:,.0f} / {r['python']:,.0f}",
                    fmt(r["others"], ".0%"),
                ]
            )
    return table(
        [
            "rows",
            "job",
            "runs",
            "job s (median)",
            "wall s",
            "rows/s",
            f"{X} floor",
            "phases s: read / select / id check / write",
            "peak MB",
            "JVM / Python MB",
            "others' CPU",
        ],
        rows,
    )


def baseline_table(results: dict[str, Any], master: str) -> list[str]:
    rows = []
    for n in sizes(results):
        for case in cases(results):
            for impl in ("numpy", "skactiveml"):
                runs = runs_of(results, "baseline", case, n, impl=impl)
                if not runs:
                    continue
                seconds = med(runs, "seconds")
                job = job_row(results, case, n, master)
                vs = seconds / job["seconds"] if seconds and job and job["seconds"] else None
                rows.append(
                    [
                        f"{n:,}",
                        case,
                        impl,
                        fmt(med(runs, "read_seconds")),
                        fmt(seconds),
                        fmt(n / seconds if seconds else None, ",.0f"),
                        fmt(peak(runs), ",.0f"),
                        fmt(vs, ".3g", X),
                        fmt(job["peak"] if job else None, ",.0f"),
                    ]
                )
    return table(
        [
            "rows",
            "selection",
            "code",
            "read s",
            "total s",
            "rows/s",
            "peak MB",
            "time / job's",
            "job peak MB",
        ],
        rows,
    )


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**met**" if ok else "**missed**")


def targets(results: dict[str, Any], master: str) -> list[str]:
    rows: list[list[str]] = []
    for case, target in TARGET_RATIO.items():
        for n in sizes(results):
            if failures(results, case, n, master) and not job_row(results, case, n, master):
                rows.append([f"{case} within {target}{X} of the floor", f"{n:,}", "job failed",
                             "**missed** (see Failures)"])  # fmt: skip
            r = job_row(results, case, n, master)
            if r and r["ratio"]:
                rows.append(
                    [
                        f"{case} within {target}{X} of the floor",
                        f"{n:,}",
                        f"{r['ratio']:.2f}{X}",
                        verdict(r["ratio"] <= target),
                    ]
                )
    ns = sizes(results)
    if len(ns) > 1:
        lo, hi = ns[0], ns[-1]
        for case in cases(results):
            a, b = job_row(results, case, lo, master), job_row(results, case, hi, master)
            if a and b and a["peak"] and b["peak"]:
                growth = b["peak"] / a["peak"]
                rows.append(
                    [
                        f"job memory flat ({case})" if case != "floor" else "floor job memory",
                        f"{lo:,} → {hi:,}",
                        f"{a['peak']:,.0f} → {b['peak']:,.0f} MB ({growth:.2f}{X})",
                        verdict(growth <= FLAT_MEMORY) if case != "floor" else "(reference)",
                    ]
                )
            base = [peak(runs_of(results, "baseline", case, n, impl="numpy")) for n in ns]
            pts = [(n, p) for n, p in zip(ns, base, strict=True) if p]
            if len(pts) > 1:
                growth = pts[-1][1] / pts[0][1]
                rows.append(
                    [
                        f"baseline memory grows ({case})",
                        f"{pts[0][0]:,} → {pts[-1][0]:,}",
                        f"{pts[0][1]:,.0f} → {pts[-1][1]:,.0f} MB ({growth:.1f}{X})",
                        "(reference)",
                    ]
                )
    for n, case, one_core, s in speedups(results, master):
        rows.append(
            [
                f"{one_core} → {master} speed-up ({case})",
                f"{n:,}",
                f"{s:.2f}{X}",
                verdict(s >= SPEEDUP),
            ]
        )
    return table(["target", "rows", "measured", "verdict"], rows)


ONE_CORE = ("local[1]", "local[1] on 1 CPU")  # the second: pinned to one CPU with taskset


def speedups(results: dict[str, Any], master: str) -> list[tuple[int, str, str, float]]:
    out = []
    for n in sizes(results):
        for case in cases(results):
            for one_core in ONE_CORE:
                one = med(runs_of(results, "job", case, n, master=one_core), "seconds")
                two = med(runs_of(results, "job", case, n, master=master), "seconds")
                if one and two and master not in ONE_CORE:
                    out.append((n, case, one_core, one / two))
    return out


def speedup_table(results: dict[str, Any], master: str) -> list[str]:
    rows = []
    for n, case, one_core, s in speedups(results, master):
        one = job_row(results, case, n, one_core)
        two = job_row(results, case, n, master)
        assert one and two
        rows.append(
            [
                f"{n:,}",
                case,
                one_core,
                fmt(one["seconds"]),
                fmt(two["seconds"]),
                f"{s:.2f}{X}",
                f"{fmt(one['cpu'], '.0f')} / {fmt(two['cpu'], '.0f')}",
                f"{fmt(one['busy'], '.2f')} / {fmt(two['busy'], '.2f')}",
                f"{fmt(one['others'], '.0%')} / {fmt(two['others'], '.0%')}",
            ]
        )
    return table(
        [
            "rows",
            "job",
            "against",
            "1-core s",
            f"{master} s",
            "speed-up",
            "CPU s of the job [1] / [n]",
            "cores kept busy [1] / [n]",
            "others' CPU [1] / [n]",
        ],
        rows,
    )


def quality_table(results: dict[str, Any], master: str) -> list[str]:
    rows = []
    for n in sizes(results):
        div = runs_of(results, "baseline", "diversity", n, impl="numpy")
        job = runs_of(results, "job", "diversity", n, master=master)
        if div and div[0].get("job_covering_radius") is not None:
            b, j = div[0], (job[-1]["figures"] if job else {})
            ratio = b["job_covering_radius"] / b["covering_radius"]
            rows.append(
                [
                    f"{n:,}",
                    "diversity: covering radius (max distance to nearest pick)",
                    f"{b['job_covering_radius']:.4g}",
                    f"{b['covering_radius']:.4g} (exact farthest-first)",
                    f"{ratio:.3f}",
                    f"job's own figure {fmt(j.get('covering_radius'), '.4g')}; certified "
                    f"≤ {fmt(j.get('certified_ratio'), '.2f')}{X} OPT",
                ]
            )
        bad = runs_of(results, "baseline", "badge", n, impl="numpy")
        job = runs_of(results, "job", "badge", n, master=master)
        if bad and bad[0].get("job_kmeans_cost") is not None:
            b, j = bad[0], (job[-1]["figures"] if job else {})
            ratio = b["job_kmeans_cost"] / b["kmeans_cost"]
            rows.append(
                [
                    f"{n:,}",
                    "badge: k-means cost (sum of squared gradient-embedding "
                    "distances to nearest pick)",
                    f"{b['job_kmeans_cost']:.5g}",
                    f"{b['kmeans_cost']:.5g} (sequential k-means++)",
                    f"{ratio:.3f}",
                    f"random picks: {b['random_kmeans_cost']:.5g}; job's own figure "
                    f"{fmt(j.get('kmeans_cost'), '.5g')}",
                ]
            )
    return table(["rows", "figure", "job", "exact reference", "job / reference", "notes"], rows)


def failures(results: dict[str, Any], case: str, n: int, master: str) -> list[dict]:
    return [
        r for r in results["runs"]
        if r["kind"] == "job" and r["case"] == case and r["n"] == n and not r["ok"]
        and r.get("master") == master
    ]  # fmt: skip


def failure_lines(results: dict[str, Any]) -> list[str]:
    lines = []
    for r in results["runs"]:
        if not r["ok"]:
            where = r.get("master") or r.get("impl", "")
            match = {"master": r["master"]} if r.get("master") else {"impl": r.get("impl", "")}
            later = runs_of(results, r["kind"], r["case"], r["n"], **match)
            lines.append(
                f"- {r['kind']} {r['case']} at {r['n']:,} rows ({where}): exit code "
                f"{r['returncode']} after {r['wall_seconds']:.0f} s, `{r.get('error', '')}`"
                + (f"; {len(later)} other run(s) of it passed" if later else "")
            )
    return lines or ["- none"]


def skipped_lines(results: dict[str, Any]) -> list[str]:
    lines = [
        f"- `{name}`: not available in the job version measured ({why})"
        for name, why in results.get("unavailable", {}).items()
    ]
    for s in results.get("skipped", []):
        match = {"master": s["master"]} if s.get("master") else {}
        if s.get("impl"):
            match = {"impl": s["impl"]}
        if runs_of(results, s["kind"], s["case"], s["n"], **match):
            continue  # measured after all, by a later (--resume) run
        what = f"{s['case']} ({s['impl']})" if s.get("impl") else s["case"]
        where = f" on {s['master']}" if s.get("master") else ""
        command = s.get("command", "").replace(str(ROOT) + "/", "")
        cmd = f" To measure it: `{command}`" if command else ""
        head = f"- {s['kind']} {what} at {s['n']:,} rows{where}: "
        if not any(line.startswith(head) for line in lines):  # a resumed run says it again
            lines.append(f"{head}{s['reason']}.{cmd}")
    return lines or ["- nothing"]


# -- plot -------------------------------------------------------------------------------------


def plot(results: dict[str, Any], master: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(12, 4.8))
    colours = dict(zip(ORDER, plt.rcParams["axes.prop_cycle"].by_key()["color"], strict=False))
    ns = sizes(results)
    for case in cases(results):
        series: list[tuple[str, Callable[[int], list[dict]]]] = [
            ("-o", lambda n, c=case: runs_of(results, "job", c, n, master=master)),  # type: ignore[misc]
            ("--x", lambda n, c=case: runs_of(results, "baseline", c, n, impl="numpy")),  # type: ignore[misc]
        ]
        for style, get in series:
            pts = [(n, med(get(n), "seconds"), peak(get(n))) for n in ns]
            pts = [p for p in pts if p[1] is not None]
            if not pts:
                continue
            label = f"{case} ({'Spark ' + master if style == '-o' else 'pandas/numpy'})"
            x = [p[0] for p in pts]
            ax_t.plot(x, [p[1] for p in pts], style, color=colours[case], label=label)
            ax_m.plot(x, [p[2] for p in pts], style, color=colours[case], label=label)
    for ax, title, unit in (
        (ax_t, "time", "seconds (median)"),
        (ax_m, "peak memory", "MB (RSS of the process tree)"),
    ):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("rows")
        ax.set_ylabel(unit)
        ax.set_title(f"{title} against n")
        ax.grid(True, which="both", alpha=0.3)
    ax_m.legend(fontsize=7, loc="upper left")
    fig.suptitle(
        "Selection job (solid) and single-node baseline (dashed); "
        f"{results['environment']['cores']} cores",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- the document -----------------------------------------------------------------------------


def write(
    results: dict[str, Any], docs: Path, al: dict[str, Any] | None = None, record: bool = True
) -> list[Path]:
    """The page and its plot; with `record`, the JSON they come from goes to bench/recorded/."""
    docs.mkdir(parents=True, exist_ok=True)
    master = results["args"]["master"]
    env = results["environment"]
    text = (ROOT / "bench" / "benchmarks_template.md").read_text()
    parts = {
        "environment": "\n".join(environment_lines(results)),
        "job_table": "\n".join(job_table(results, master)),
        "baseline_table": "\n".join(baseline_table(results, master)),
        "targets": "\n".join(targets(results, master)),
        "speedup_table": "\n".join(speedup_table(results, master)),
        "quiet_job_table": "\n".join(job_table(quiet_only(results), master)),
        "quiet_targets": "\n".join(
            line for line in targets(quiet_only(results), master) if "memory" not in line
        ),
        "quiet_speedup_table": "\n".join(speedup_table(quiet_only(results), master)),
        "quiet": f"{QUIET:.0%}",
        "quality_table": "\n".join(quality_table(results, master)),
        "skipped": "\n".join(skipped_lines(results)),
        "failures": "\n".join(failure_lines(results)),
        "al_section": "\n".join(al_lines(al)),
        "analysis": analysis_text(),
        "master": master,
        "date": env["date"],
        "plot": PLOT,
    }
    for key, value in parts.items():
        text = text.replace("{{" + key + "}}", str(value))
    out = docs / "benchmarks.md"
    out.write_text(text)
    written = [out]
    if results["runs"]:
        plot(results, master, docs / PLOT)
        written.append(docs / PLOT)
    if record:
        RECORDED.mkdir(parents=True, exist_ok=True)
        (RECORDED / "results.json").write_text(json.dumps(results, indent=1))
        if al:
            (RECORDED / "al_curve.json").write_text(json.dumps(al, indent=1))
    return written


def load(results_dir: Path) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(bench results, AL curve results) from `results_dir`, else the recorded ones."""
    found: list[dict[str, Any] | None] = []
    for name in ("results.json", "al_curve.json"):
        for folder in (results_dir, RECORDED):
            if (folder / name).exists():
                found.append(json.loads((folder / name).read_text()))
                break
        else:
            found.append(None)
    return found[0], found[1]


def environment_lines(results: dict[str, Any]) -> list[str]:
    env, args = results["environment"], results["args"]
    v = env["versions"]
    load = [r["others_cpu_share"] for r in results["runs"] if "others_cpu_share" in r]
    shared = median(load) or 0.0
    return [
        f"- date: {env['date']}; commit {env['commit']}"
        + (" (with uncommitted changes to selection/ or jobs/)" if env.get("dirty") else ""),
        f"- machine: {env['cpu']}, {env['cores']} cores, {env['memory_gb']} GB RAM, {env['os']}",
        f"- versions: Python {v['python']}, PySpark {v['pyspark']}, {v['java']}, numpy "
        f"{v['numpy']}, pandas {v['pandas']}, pyarrow {v['pyarrow']}, scikit-activeml "
        f"{v['scikit-activeml']}, psutil {v['psutil']}",
        f"- data: {args['features']} features (`emb_*`), {args['classes']} classes, Parquet part "
        f"files of ≤ {args['rows_per_file']:,} rows; "
        + ", ".join(
            f"{d['n']:,} rows = {d['files']} files, {d['bytes'] / 1e9:.2f} GB"
            for d in sorted(results.get("data", []), key=lambda d: d["n"])
        ),
        f"- jobs: `{args['master']}`, default Spark settings (driver memory 1 GB), OUTPUT_FORMAT="
        f"parquet, BATCH_SIZE={args['batch_size']}, K_PER_CLASS={args['k_per_class']}, "
        f"CONFIDENCE_THRESHOLD={args['threshold']}, up to {args['repeats']} runs per job"
        + (f", extra variables {args['extra_env']}" if args.get("extra_env") else ""),
        f"- whole run: {results.get('elapsed_minutes', '?')} minutes"
        + (
            " in "
            + ", ".join(
                f"{x['date']} ({x['minutes']} min, sizes {x['args']['sizes']})"
                for x in results.get("sessions", [])
            )
            if len(results.get("sessions", [])) > 1
            else ""
        ),
        f"- other processes: median {shared:.0%} of the machine's CPU went to processes outside "
        "the measured job during its runs (column *others' CPU*)"
        + (
            ": **other work shared the CPUs**, so times are pessimistic and noisier than on an "
            "idle machine"
            if shared > 0.05
            else ""
        ),
    ]


def al_lines(al: dict[str, Any] | None) -> list[str]:
    if not al:
        return ["Not run yet: `python -m bench.al_curve` writes it."]
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
        f"![accuracy against labels spent]({AL_PLOT})",
        "",
        f"{al['description']}",
        "",
        *table(["strategy", *(f"{x} labels" for x in picks)], rows),
    ]


def analysis_text() -> str:
    path = ROOT / "bench" / "analysis.md"
    return path.read_text().strip() if path.exists() else "(no analysis written yet)"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.report", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--results-dir",
        default=str(ROOT / "bench" / "results"),
        help="results.json / al_curve.json; bench/recorded/ when missing there",
    )
    parser.add_argument("--docs-dir", default=str(ROOT / "docs"))
    args = parser.parse_args(argv)
    results, al = load(Path(args.results_dir))
    if results is None:
        print("no results.json: run python -m bench.run first", file=sys.stderr)
        return 1
    record = Path(args.docs_dir).resolve() == (ROOT / "docs").resolve()
    for path in write(results, Path(args.docs_dir), al, record=record):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
