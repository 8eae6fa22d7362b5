"""`make bench`: every target of issue 10 (and the C = 1000 rows of issue 12), measured.

    make bench                                          the whole plan (see --dry-run)
    make bench BENCH_ARGS="--groups scan-1m,embed-1m"   some groups; the other rows are kept
    make bench BENCH_ARGS="--budget-minutes 45"         what fits; the same command continues
    make bench BENCH_ARGS="--quick"                     smoke test: small inputs, one run each
    python -m bench.run --dry-run                       the plan and its estimated minutes
    python -m bench.report                              docs/benchmarks.md from results.json

Each run is its own process (bench.floor, the job, bench.baseline), timed whole, with the memory
of its process tree sampled. A group's cells run interleaved with its floor, `reps` times, so a
change in the machine's load hits them alike. Runs are merged into bench/recorded/results.json
after each one; a group already measured at this commit on a clean tree is not run again
(--rerun forces it). docs/benchmarks.md is written at the end.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import estimate, execute, plan, report, tables
from bench.environment import environment
from bench.generate import dir_bytes, generate
from bench.plan import Group
from bench.results import COMPLETE, INCOMPLETE, Results

ROOT = Path(__file__).resolve().parent.parent
RECORDED = ROOT / "bench" / "recorded" / "results.json"
QUICK = ROOT / "bench" / "results" / "quick"
BUSY_LOAD = 0.5  # one-minute load average above which the machine is not quiet


@dataclass
class Session:
    args: argparse.Namespace
    results: Results
    started: float

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def log(self, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        print(f"{stamp} [{self.elapsed() / 60:5.1f} min] {text}", flush=True)

    def fits(self, seconds: float) -> bool:
        budget = self.args.budget_minutes * 60
        return not budget or self.elapsed() + seconds <= budget


def selected_groups(args: argparse.Namespace) -> list[Group]:
    groups = plan.build(plan.PROFILES[args.profile], arrow=args.arrow)
    plan.check_unique(groups)
    if args.groups == "all":
        return [g for g in groups if g.default]
    wanted = [w.strip() for w in args.groups.split(",") if w.strip()]
    chosen = [g for g in groups if any(g.name == w or g.name.startswith(w + "-") for w in wanted)]
    unknown = [
        w for w in wanted if not any(g.name == w or g.name.startswith(w + "-") for g in groups)
    ]
    if unknown:
        names = ", ".join(g.name for g in groups)
        raise SystemExit(f"bench: unknown group(s) {', '.join(unknown)}; the groups: {names}")
    return chosen


def reps_of(group: Group, args: argparse.Namespace) -> int:
    return min(group.reps, args.reps) if args.reps else group.reps


def dry_run(groups: list[Group], args: argparse.Namespace, results: Results) -> int:
    print(
        "\n".join(
            tables.table(
                ["group", "cells", "reps", "minutes", "data generation min", "what", "inputs"],
                estimate.plan_rows(groups, results, reps=args.reps),
            )
        )
    )
    print(
        "(measured medians where results.json has them, else the targets' ratios to a quiet "
        "floor; generation only the first time: bench/results/data/ caches the inputs)"
    )
    return 0


def prepare_data(s: Session, group: Group) -> dict[tuple[int, int, int], Path]:
    paths = {}
    for key in group.inputs:
        n, classes, members = key
        spec = execute.spec(n, classes, members)
        clock = time.monotonic()
        paths[key] = generate(Path(s.args.data_dir), spec, quiet=True)
        if spec.name not in s.results.data:
            s.results.data[spec.name] = {
                "rows": n,
                "classes": classes,
                **({"members": members} if members else {}),
                "files": spec.files,
                "bytes": dir_bytes(paths[key]),
                "generate_seconds": round(time.monotonic() - clock, 1),
            }
    return paths


def run_group(s: Session, session: dict, group: Group) -> None:
    reps = reps_of(group, s.args)
    ctx = execute.Context(prepare_data(s, group), Path(s.args.work_dir), s.args.timeout)
    ctx.work.mkdir(parents=True, exist_ok=True)
    session["groups"][group.name] = INCOMPLETE
    walls: dict[str, list[float]] = {}  # this session's runs: the best guess of the next one
    for rep in range(reps):
        todo = list(group.cells) + (list(group.once) if rep == 0 else [])
        for cell in todo:
            mine = walls.get(cell.key)
            guess = statistics.median(mine) if mine else estimate.seconds(cell, s.results)
            if not s.fits(guess):
                s.log(f"{group.name}: stopped, {cell.label} would end past the budget")
                session["skipped"].append(
                    {"group": group.name, "reason": f"budget ran out in rep {rep + 1} of {reps}"}
                )
                return
            record = execute.run(cell, ctx, rep=rep, group=group.name)
            s.results.add(session, record)
            walls.setdefault(cell.key, []).append(record["wall_seconds"])
            s.log(
                f"{group.name} rep {rep + 1}/{reps} {cell.label} n={cell.n:,} C={cell.classes} "
                f"{cell.master}: "
                + (
                    f"{record['wall_seconds']:.1f} s, peak {record['peak_rss_mb']:,.0f} MB, "
                    f"others' CPU {record['others_cpu_share']:.0%}"
                    if record["ok"]
                    else f"FAILED ({record.get('error')})"
                )
            )
            session["minutes"] = round(s.elapsed() / 60, 1)
            s.results.save(s.args.results)
    session["groups"][group.name] = COMPLETE
    s.results.save(s.args.results)


def measure(groups: list[Group], args: argparse.Namespace, results: Results) -> None:
    env = environment(execute.ARROW_VAR)
    info = {
        "date": env["date"],
        "commit": env["commit"],
        "dirty": env["dirty"],
        "profile": args.profile,
        "argv": args.argv,
        "environment": env,
    }
    s = Session(args, results, time.monotonic())
    load = os.getloadavg()[0]
    if load > BUSY_LOAD:
        s.log(f"warning: load average {load:.1f}: other work is running, rows will carry ‡")
    session = results.start_session(info)
    if not args.arrow:
        session["skipped"].append(
            {
                "group": "embed",
                "reason": "pyarrow is not importable: "
                "the pyarrow path of diversity and badge was not run",
            }
        )
    for group in groups:
        keys = [c.key for c in (*group.cells, *group.once)]
        if not args.rerun and results.measured_at(
            keys, group.name, env["commit"], reps_of(group, args)
        ):
            s.log(f"{group.name}: measured at {env['commit']} already (--rerun to repeat)")
            continue
        need = estimate.group_seconds(group, results, reps=reps_of(group, args))
        if not s.fits(need):
            s.log(f"{group.name}: skipped, ~{need / 60:.0f} min do not fit the budget")
            session["skipped"].append(
                {
                    "group": group.name,
                    "reason": f"~{need / 60:.0f} min did not fit --budget-minutes",
                }
            )
            continue
        s.log(
            f"{group.name}: {len(group.cells)} cells x {reps_of(group, args)}, ~{need / 60:.1f} min"
        )
        run_group(s, session, group)
    session["minutes"] = round(s.elapsed() / 60, 1)
    results.save(args.results)
    s.log(f"results: {args.results}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="bench.run",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--groups",
        default="all",
        help="comma list of group names or prefixes (scan, embed...); see --dry-run",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: small inputs, one run each, results in bench/results/quick",
    )
    p.add_argument("--reps", type=int, default=0, help="runs per cell (0: the plan's, 3)")
    p.add_argument("--budget-minutes", type=float, default=0.0, help="0: no limit")
    p.add_argument("--rerun", action="store_true", help="also groups measured at this commit")
    p.add_argument("--dry-run", action="store_true", help="print the plan and its estimate")
    p.add_argument("--report-only", action="store_true", help="only write the docs")
    p.add_argument(
        "--no-arrow",
        dest="arrow",
        action="store_false",
        help="skip the pyarrow path of diversity and badge",
    )
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds before a run is killed")
    p.add_argument("--results", type=Path, default=None, help=f"default {RECORDED}")
    p.add_argument("--docs-dir", type=Path, default=None, help="default docs/")
    p.add_argument("--data-dir", type=Path, default=ROOT / "bench" / "results" / "data")
    p.add_argument("--work-dir", type=Path, default=ROOT / "bench" / "results" / "work")
    args = p.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    args.profile = "quick" if args.quick else "full"
    if args.quick:
        args.reps = args.reps or 1
    args.results = args.results or (QUICK / "results.json" if args.quick else RECORDED)
    args.docs_dir = args.docs_dir or (QUICK if args.quick else ROOT / "docs")
    args.arrow = args.arrow and importlib.util.find_spec("pyarrow") is not None
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    results = Results.load(args.results)
    groups = selected_groups(args)
    if args.dry_run:
        return dry_run(groups, args, results)
    if not args.report_only:
        measure(groups, args, results)
    for path in report.write(Results.load(args.results), args.docs_dir, profile=args.profile):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
    except (subprocess.SubprocessError, ValueError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        sys.exit(1)
