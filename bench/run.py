"""`make bench`: every strategy against the scan floor and the single-node baseline, per size.

    python -m bench.run [--sizes 1000000,5000000,20000000] [--repeats 3] [--master local[2]]
                        [--speedup-size 5000000] [--strategies all] [--budget-minutes 45] ...
    make bench BENCH_ARGS="--sizes 100000 --repeats 1"          (a quick look)
    python -m bench.run --report-only                            (docs from the saved results)

Each measured job is a subprocess (`python -m jobs.active_sample_selection --master local[N]`,
or `python -m bench.floor` for the floor, or `python -m bench.baseline`) so the memory of its
whole process tree can be sampled. Runs of one repeat are interleaved (floor, then each
strategy) so that a change in the machine's load hits all of them alike. A strategy the job
answers "not yet available" for is recorded as such and skipped; it is measured as soon as the
job has it. Results go to bench/results/results.json after every run; docs/benchmarks.md and
docs/benchmarks_scaling.png are written from them at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from bench import report
from bench.generate import Spec, dir_bytes, generate
from bench.measure import Measurement, median, run_measured

ROOT = Path(__file__).resolve().parent.parent
STRATEGIES = ("confidence_threshold", "top_k_per_class", "uncertainty", "diversity", "badge")
ORDER = ("uncertainty", "top_k_per_class", "confidence_threshold", "diversity", "badge")
SSL = ("confidence_threshold", "top_k_per_class")
EXACT = ("diversity", "badge")  # O(n k) sequential baselines: only up to --exact-max-rows
UNAVAILABLE = "not yet available"
PINNED = "local[1] on 1 CPU"  # local[1] with the process tree pinned to one CPU (taskset)
_DONE = re.compile(r"INFO done .* seconds=([0-9.]+)")
_PHASE = re.compile(r"INFO (\w+)\s+(?!scanning)(.*?)\s*seconds=([0-9.]+)")


@dataclass(frozen=True)
class Case:
    name: str  # "floor" or a strategy
    env: dict[str, str]

    def command(self, data: Path, out: Path, master: str) -> list[str]:
        if self.name == "floor":
            return [sys.executable, "-m", "bench.floor", "--input", str(data), "--master", master]
        job_type = "ssl_selection" if self.name in SSL else "active_learning_selection"
        return [
            sys.executable,
            "-m",
            "jobs.active_sample_selection",
            "--master",
            master,
            "--job_type",
            job_type,
            "--input",
            str(data),
            "--output",
            str(out / "selected"),
            "--metadata-output",
            str(out / "metadata"),
            "--overwrite",
        ]


def make_cases(args: argparse.Namespace) -> list[Case]:
    common = {"OUTPUT_FORMAT": "parquet", "RANDOM_SEED": str(args.seed), **args.extra_env}
    per = {
        "confidence_threshold": {"CONFIDENCE_THRESHOLD": str(args.threshold)},
        "top_k_per_class": {"K_PER_CLASS": str(args.k_per_class)},
        "uncertainty": {"BATCH_SIZE": str(args.batch_size), "UNCERTAINTY_MODE": "margin"},
        "diversity": {"BATCH_SIZE": str(args.batch_size)},
        "badge": {"BATCH_SIZE": str(args.batch_size)},
    }
    cases = [Case("floor", {})]
    # The cheap strategies first: when a budget runs out, the costly ones are what is left.
    for name in sorted(args.strategies, key=ORDER.index):
        cases.append(Case(name, {"SELECTION_STRATEGY": name, **common, **per[name]}))
    return cases


def subprocess_env() -> dict[str, str]:
    return {
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        "SPARK_LOCAL_IP": os.environ.get("SPARK_LOCAL_IP", "127.0.0.1"),
        "PYTHONPATH": str(ROOT),
    }


def shell_line(cmd: Sequence[str], env: dict[str, str]) -> str:
    exe = [".venv/bin/python" if c == sys.executable else c for c in cmd]
    return " ".join([*(f"{k}={shlex.quote(v)}" for k, v in env.items()), *map(shlex.quote, exe)])


def last_error(m: Measurement) -> str:
    lines = [ln for ln in (m.stderr + m.stdout).splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:") or "Error" in ln]
    return (errors or lines or ["(no output)"])[-1][:400]


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.results_dir = Path(args.results_dir)
        self.path = self.results_dir / "results.json"
        self.started = time.monotonic()
        self.session = {
            "date": report.environment()["date"],
            "args": {k: v for k, v in vars(args).items() if k != "func"},
            "minutes": 0.0,
        }
        self.results: dict[str, Any] = {
            "environment": report.environment(),
            "args": self.session["args"],
            "runs": [],
            "skipped": [],
            "unavailable": {},
            "data": [],
            "sessions": [],
        }
        if args.resume and self.path.exists():
            # Add to an earlier run: cells it measured are not run again.
            self.results = json.loads(self.path.read_text())
            first = {
                "date": self.results["environment"]["date"],
                "args": self.results["args"],
                "minutes": self.results.get("elapsed_minutes", 0.0),
            }
            self.results.setdefault("sessions", [first])
            self.results["unavailable"] = {}  # the job may have them by now
        self.results["sessions"].append(self.session)

    # -- bookkeeping -------------------------------------------------------------------------

    def save(self) -> None:
        self.session["minutes"] = round((time.monotonic() - self.started) / 60, 1)
        self.results["elapsed_minutes"] = round(
            sum(x["minutes"] for x in self.results["sessions"]), 1
        )
        self.results_dir.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.results, indent=1, default=str))

    def log(self, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        print(f"{stamp} [{(time.monotonic() - self.started) / 60:5.1f} min] {text}", flush=True)

    def skip(
        self,
        kind: str,
        case: str,
        n: int,
        reason: str,
        command: str = "",
        *,
        master: str = "",
        impl: str = "",
    ) -> None:
        entry = {"kind": kind, "case": case, "n": n, "reason": reason, "command": command,
                 "master": master, "impl": impl}  # fmt: skip
        same = [s for s in self.results["skipped"] if s["command"] == command and command]
        if entry in self.results["skipped"] or same:
            return  # the first reason given stands (a later repeat would say the same)
        self.results["skipped"].append(entry)
        self.log(f"skip {kind} {case} n={n:,}: {reason}")

    def seconds(
        self, kind: str, case: str, n: int, master: str = "", impl: str = ""
    ) -> list[float]:
        return [
            r["seconds"]
            for r in self.results["runs"]
            if r["kind"] == kind
            and r["case"] == case
            and r["n"] == n
            and r["ok"]
            and r.get("master", "") == master
            and r.get("impl", "") == impl
        ]

    def predicted(self, kind: str, case: str, n: int, master: str = "", impl: str = "") -> float:
        """Linear extrapolation from the largest smaller size measured (0 when none).

        local[1] at a size already measured on --master: that time times its core count.
        """
        cores = re.fullmatch(r"local\[(\d+)\]", self.args.master)
        if (
            master.startswith("local[1]")
            and cores
            and self.seconds(kind, case, n, self.args.master)
        ):
            mine = median(self.seconds(kind, case, n, self.args.master)) or 0.0
            return float(mine) * int(cores.group(1))
        done = [m for m in self.args.sizes if m < n and self.seconds(kind, case, m, master, impl)]
        if not done:
            return 0.0
        m = max(done)
        before = float(median(self.seconds(kind, case, m, master, impl)) or 0.0)
        floor_m, floor_n = (self.seconds("job", "floor", x, master) for x in (m, n))
        if kind == "job" and case not in EXACT and floor_m and floor_n:
            # Scans: they grow like the floor just measured at this size, start-up included.
            return before * float(median(floor_n) or 0.0) / float(median(floor_m) or 1.0)
        return before * n / m

    def over_budget(self, predicted: float = 0.0) -> bool:
        """Would a run predicted to take `predicted` seconds end past --budget-minutes?"""
        budget = self.args.budget_minutes
        return bool(budget) and (time.monotonic() - self.started + predicted) / 60 > budget

    def rerun_hint(self, case: str, n: int, master: str) -> str:
        strategies = "none" if case == "floor" else case
        folder = f"bench/results/n{n}_{strategies}"
        return (
            f"make bench BENCH_ARGS='--sizes {n} --strategies {strategies} --master {master} "
            f"--repeats {self.args.repeats[0]} --speedup-size 0 --max-job-seconds 0 --no-baseline "
            f"--results-dir {folder} --docs-dir {folder}'"
        )

    def out_dir(self, case: str, n: int, master: str) -> Path:
        return self.results_dir / "out" / f"{case}_n{n}_{re.sub(r'[^0-9a-z]', '', master)}"

    # -- runs --------------------------------------------------------------------------------

    def job(self, case: Case, n: int, data: Path, master: str, rep: int) -> None:
        if case.name in self.results["unavailable"]:
            return
        key = f"{case.name} n={n:,} {master} run {rep + 1}"
        guess = self.predicted("job", case.name, n, master)
        if self.args.max_job_seconds and guess > self.args.max_job_seconds:
            self.skip(
                "job",
                case.name,
                n,
                f"predicted {guess:.0f} s > --max-job-seconds "
                f"{self.args.max_job_seconds:.0f} on {master}",
                self.rerun_hint(case.name, n, master),
                master=master,
            )
            return
        done = self.seconds("job", case.name, n, master)
        if len(done) > rep:
            return  # measured by an earlier run (--resume)
        if rep > 0 and done and min(done) > self.args.single_run_above:
            return  # long enough that one run is the measurement
        if self.over_budget(guess):
            self.skip(
                "job",
                case.name,
                n,
                f"it would not end within --budget-minutes {self.args.budget_minutes:.0f}",
                self.rerun_hint(case.name, n, master),
                master=master,
            )
            return
        out = self.out_dir(case.name, n, master)
        cmd = case.command(data, out, "local[1]" if master == PINNED else master)
        if master == PINNED:
            cmd = ["taskset", "-c", "0", *cmd]  # the whole process tree on one CPU
        m = run_measured(
            cmd, env={**subprocess_env(), **case.env}, cwd=ROOT, timeout=self.args.timeout
        )
        record: dict[str, Any] = {
            "kind": "job",
            "case": case.name,
            "n": n,
            "master": master,
            "rep": rep,
            "ok": m.ok,
            **m.summary(),
        }
        if case.name == "floor":
            line = next((ln for ln in m.stdout.splitlines() if ln.startswith("BENCH_FLOOR ")), "")
            facts = json.loads(line.split(" ", 1)[1]) if line else {}
            record["seconds"] = facts.get("seconds")
            record["session_seconds"] = facts.get("session_seconds")
            record["partitions"] = facts.get("partitions")
        else:
            done_line = _DONE.search(m.stderr)
            record["seconds"] = float(done_line.group(1)) if done_line else None
            record["phases"] = [
                (p, float(s)) for p, _, s in _PHASE.findall(m.stderr) if p != "done"
            ]
            meta = out / "metadata" / "selection_metadata.json"
            if m.ok and meta.exists():
                doc = json.loads(meta.read_text())
                record["selected_rows"] = doc.get("selected_rows")
                record["figures"] = {
                    k: v
                    for k, v in (doc.get("strategy_figures") or {}).items()
                    if isinstance(v, int | float) and not isinstance(v, bool)
                }
        record["ok"] = m.ok and record["seconds"] is not None
        if not m.ok:
            record["error"] = last_error(m)
            record["stderr_tail"] = m.stderr[-4000:]
            if UNAVAILABLE in m.stderr:
                self.results["unavailable"][case.name] = record["error"]
                self.log(f"{key}: not available in this version of the job ({record['error']})")
                self.save()
                return
        self.results["runs"].append(record)
        self.log(
            f"{key}: "
            + (
                f"{record['seconds']:.1f} s job, {m.wall_seconds:.1f} s wall, "
                f"peak {m.peak_rss_mb:.0f} MB, others' CPU "
                f"{record['others_cpu_share']:.0%}"
                if record["ok"]
                else f"FAILED ({record.get('error')})"
            )
        )
        self.save()

    def baseline(self, case: str, n: int, data: Path, impl: str, compare: Path | None) -> None:
        if case in self.results["unavailable"] or self.seconds("baseline", case, n, impl=impl):
            return
        cmd = [
            sys.executable,
            "-m",
            "bench.baseline",
            "--input",
            str(data),
            "--strategy",
            case,
            "--impl",
            impl,
            "--batch-size",
            str(self.args.batch_size),
            "--k-per-class",
            str(self.args.k_per_class),
            "--threshold",
            str(self.args.threshold),
            "--seed",
            str(self.args.seed),
        ]
        if compare is not None and (compare / "selected").exists():
            cmd += ["--compare-selected", str(compare / "selected")]
        need_gb = n * 28 * 8 * 3 / 1e9 + 1.0  # pandas read: Arrow table + DataFrame + arrays
        if impl == "skactiveml" and case == "diversity":
            need_gb += self.args.batch_size * n * 8 / 1e9  # its (batch, n) utility matrix
        free_gb = psutil.virtual_memory().available / 1e9
        if case in EXACT and n > self.args.exact_max_rows:
            guess = self.predicted("baseline", case, n, impl=impl)
            self.skip(
                "baseline",
                case,
                n,
                f"sequential O(n·k) algorithm, above --exact-max-rows; est. {guess:.0f} s"
                if guess
                else "sequential O(n·k) algorithm, above --exact-max-rows",
                shell_line(cmd, {}),
                impl=impl,
            )
            return
        if need_gb > free_gb - 2.0 or need_gb > self.args.baseline_max_gb:
            self.skip(
                "baseline",
                case,
                n,
                f"needs ~{need_gb:.0f} GB in memory; {free_gb:.0f} GB free, "
                f"--baseline-max-gb {self.args.baseline_max_gb:.0f}",
                shell_line(cmd, {}),
                impl=impl,
            )
            return
        if self.over_budget(self.predicted("baseline", case, n, impl=impl)):
            self.skip(
                "baseline",
                case,
                n,
                f"it would not end within --budget-minutes {self.args.budget_minutes:.0f}",
                shell_line(cmd, {}),
                impl=impl,
            )
            return
        m = run_measured(cmd, cwd=ROOT, env={"PYTHONPATH": str(ROOT)}, timeout=self.args.timeout)
        line = next((ln for ln in m.stdout.splitlines() if ln.startswith("BENCH_BASELINE ")), "")
        facts = json.loads(line.split(" ", 1)[1]) if line else {}
        record = {
            "kind": "baseline",
            "case": case,
            "n": n,
            "impl": impl,
            "rep": 0,
            "ok": m.ok and bool(line),
            **m.summary(),
            **facts,
        }
        if not record["ok"]:
            record["error"] = last_error(m)
        self.results["runs"].append(record)
        self.log(
            f"baseline {case} ({impl}) n={n:,}: "
            + (
                f"{facts['seconds']:.1f} s, peak {m.peak_rss_mb:.0f} MB"
                if record["ok"]
                else f"FAILED ({record.get('error')})"
            )
        )
        self.save()

    # -- the plan ----------------------------------------------------------------------------

    def run(self) -> None:
        a = self.args
        cases = make_cases(a)
        quality_n = max((n for n in a.sizes if n <= a.exact_max_rows), default=0)
        data: dict[int, Path] = {}
        for n in a.sizes:
            spec = Spec(n, a.features, a.classes, a.rows_per_file, seed=a.data_seed)
            clock = time.monotonic()
            data[n] = generate(Path(a.data_dir), spec)
            self.results["data"] = [d for d in self.results["data"] if d["n"] != n]
            self.results["data"].append(
                {
                    "n": n,
                    "path": str(data[n]),
                    "files": spec.files,
                    "bytes": dir_bytes(data[n]),
                    "generate_seconds": round(time.monotonic() - clock, 1),
                }
            )
        speedup = a.speedup_size if a.speedup_size is not None else min(a.sizes)
        # Breadth first: one run of everything at every size, then the further repeats, so a
        # budget that runs out costs repeats rather than whole sizes.
        for rep in range(max(a.repeats)):
            for i, n in enumerate(a.sizes):
                if rep >= a.repeats[min(i, len(a.repeats) - 1)]:
                    continue
                one = PINNED if a.pin_local1 else "local[1]"
                masters = [a.master] + ([one] if n == speedup != 0 else [])
                for case in cases:
                    for master in dict.fromkeys(masters):
                        self.job(case, n, data[n], master, rep)
                if rep == 0 and a.baseline:
                    # After the first run: every job has an output whose quality can be scored.
                    self.baselines(cases, n, data[n], quality_n)

    def baselines(self, cases: list[Case], n: int, data: Path, quality_n: int) -> None:
        a = self.args
        for case in cases:
            compare = self.out_dir(case.name, n, a.master) if n == quality_n else None
            self.baseline(case.name, n, data, "numpy", compare)
            if a.skactiveml and case.name in ("uncertainty", "diversity"):
                cap = a.skactiveml_max_gb * 1e9 / (8 * a.batch_size)
                if case.name == "uncertainty" or n <= cap:
                    self.baseline(case.name, n, data, "skactiveml", None)
                else:
                    self.skip(
                        "baseline",
                        case.name,
                        n,
                        "k_greedy_center keeps a (batch, n) float64 utility matrix "
                        f"({a.batch_size * n * 8 / 1e9:.0f} GB here) and makes a pass per pick; "
                        f"over --skactiveml-max-gb {a.skactiveml_max_gb:g}",
                        impl="skactiveml",
                    )
        self.save()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="bench.run",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ints = lambda s: [int(float(v)) for v in s.split(",") if v]  # noqa: E731
    p.add_argument("--sizes", type=ints, default=[1_000_000, 5_000_000, 20_000_000])
    p.add_argument("--features", type=int, default=16)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--rows-per-file", type=int, default=1_000_000)
    p.add_argument("--data-seed", type=int, default=0)
    p.add_argument(
        "--strategies",
        default="all",
        help="comma list of " + ", ".join(STRATEGIES) + ", 'all' or 'none'",
    )
    p.add_argument(
        "--repeats",
        type=ints,
        default=[3],
        help="runs per job (median reported); a comma list gives one count per size",
    )
    p.add_argument(
        "--single-run-above",
        type=float,
        default=240.0,
        help="a job whose first run took longer is not repeated",
    )
    p.add_argument("--master", default="local[2]")
    p.add_argument(
        "--speedup-size",
        type=int,
        default=None,
        help="size at which each job also runs on local[1] (0: none; default the smallest)",
    )
    p.add_argument(
        "--pin-local1",
        action="store_true",
        help="run the local[1] jobs pinned to one CPU (taskset), so the JVM's own threads "
        "cannot use a second core",
    )
    p.add_argument("--batch-size", type=int, default=1000)
    p.add_argument("--k-per-class", type=int, default=100)
    p.add_argument("--threshold", type=float, default=0.9)
    p.add_argument("--seed", type=int, default=42, help="RANDOM_SEED of the jobs")
    p.add_argument(
        "--extra-env",
        action="append",
        default=[],
        metavar="VAR=VALUE",
        help="job variable for every strategy, e.g. CHECK_UNIQUE_IDS=false",
    )
    p.add_argument("--no-baseline", dest="baseline", action="store_false")
    p.add_argument("--no-skactiveml", dest="skactiveml", action="store_false")
    p.add_argument(
        "--exact-max-rows",
        type=int,
        default=1_000_000,
        help="largest n for the exact diversity/badge baselines and quality figures",
    )
    p.add_argument("--skactiveml-max-gb", type=float, default=9.0)
    p.add_argument("--baseline-max-gb", type=float, default=16.0)
    p.add_argument(
        "--max-job-seconds",
        type=float,
        default=900.0,
        help="skip a job whose time, extrapolated from the size below, is longer",
    )
    p.add_argument("--budget-minutes", type=float, default=0.0, help="0: no limit")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds before a run is killed")
    p.add_argument("--data-dir", default=str(ROOT / "bench" / "results" / "data"))
    p.add_argument("--results-dir", default=str(ROOT / "bench" / "results"))
    p.add_argument("--docs-dir", default=str(ROOT / "docs"))
    p.add_argument("--report-only", action="store_true")
    p.add_argument(
        "--resume",
        action="store_true",
        help="add to the results.json in --results-dir instead of starting afresh",
    )
    args = p.parse_args(argv)
    args.sizes = sorted(args.sizes)
    names = [s.strip() for s in args.strategies.split(",") if s.strip()]
    args.strategies = list(STRATEGIES) if names == ["all"] else [s for s in names if s != "none"]
    unknown = set(args.strategies) - set(STRATEGIES)
    if unknown:
        p.error(f"unknown strategies: {', '.join(sorted(unknown))}")
    env = {}
    for item in args.extra_env:
        var, sep, value = item.partition("=")
        if not sep:
            p.error(f"--extra-env wants VAR=VALUE, got {item!r}")
        env[var] = value
    args.extra_env = env
    if args.skactiveml:
        try:
            import skactiveml  # noqa: F401
        except ImportError:
            args.skactiveml = False
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    results_dir = Path(args.results_dir)
    if not args.report_only:
        bench = Bench(args)
        bench.log(f"bench: sizes {args.sizes}, strategies {args.strategies}, {args.repeats} runs")
        bench.run()
        bench.log(f"results: {bench.path}")
    results, al = report.load(results_dir)
    if results is None:
        print(f"no results in {results_dir}; run without --report-only first", file=sys.stderr)
        return 1
    # Only a run that writes the real docs replaces the recorded results behind them.
    record = Path(args.docs_dir).resolve() == (ROOT / "docs").resolve()
    for path in report.write(results, Path(args.docs_dir), al, record=record):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
    except subprocess.SubprocessError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        sys.exit(1)
