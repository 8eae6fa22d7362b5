"""How far the accuracy-targeted, calibrated pseudo-labels can be trusted: a quality study.

    python -m bench.ssl_study [--seeds 10] [--targets 0.9,0.95,0.98]

Three settings: scikit-learn's digits (a logistic regression fit on 100 labelled images), and a
generated set of 10 classes whose true posteriors are known (softmax of Gaussian logits, labels
drawn from them) with a model that reports those posteriors tempered by T = 2 (over-confident)
or T = 0.5 (under-confident), so the temperature to recover is known. Per seed: labelled
images, a validation set (labelled, predictions of the same model), a pool (labels held back)
and a test split. For every target the job runs in-process (`main(argv, env, spark)`, one
local SparkSession) with CONFIDENCE_THRESHOLD=auto, TARGET_ACCURACY and CALIBRATION=temperature
on the pool and `--validation-data`; its pseudo-labels are scored against the held-back truth,
per class where at least MIN_SUPPORT rows were taken. Beside them, one global threshold chosen
on the same calibrated validation confidences the same way (the lowest whose Wilson bound over
all classes reaches the target), and a logistic regression retrained on labels + pseudo-labels
against labels alone, on the test split. Writes bench/recorded/ssl_study.json,
docs/pseudo_label_study.png, then docs/benchmarks.md again.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench import studies
from bench.al_curve import full_probs
from selection import ScoreSpec, fit_class_thresholds
from selection.strategies.thresholds import wilson_lower_value, wilson_z

ROOT = Path(__file__).resolve().parent.parent
CLASSES = 10
MIN_SUPPORT = 30  # pseudo-labels of a class before its own accuracy is judged
LEVEL = 0.95  # CONFIDENCE_LEVEL, the job's default
SETTINGS = ("digits", "generated T=2", "generated T=0.5")


@dataclass
class Split:
    """One seed's data: model probabilities and truth for each part; x for the retrain."""

    x_lab: np.ndarray
    y_lab: np.ndarray
    p_val: np.ndarray
    y_val: np.ndarray
    x_pool: np.ndarray
    p_pool: np.ndarray
    y_pool: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    true_t: float | None


def digits_split(seed: int) -> Split:
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    digits = load_digits()
    x, y = digits.data / 16.0, digits.target
    order = np.random.default_rng(seed).permutation(len(y))
    lab, val, pool, test = np.split(order, [100, 1000, 1500])  # 900 validation rows
    model = LogisticRegression(max_iter=3000).fit(x[lab], y[lab])
    return Split(
        x[lab], y[lab], full_probs(model, x[val], CLASSES), y[val],
        x[pool], full_probs(model, x[pool], CLASSES), y[pool], x[test], y[test], None,
    )  # fmt: skip


def generated_split(seed: int, true_t: float) -> Split:
    """Logits l ~ N(0, 4^2): posterior softmax(l), label drawn from it; the model reports
    softmax(true_t * l), so T = true_t calibrates it exactly. The features are l itself."""
    rng = np.random.default_rng(10_000 + seed)
    n = {"lab": 100, "val": 3000, "pool": 4000, "test": 2000}
    logits = rng.normal(scale=4.0, size=(sum(n.values()), CLASSES))

    def softmax(z: np.ndarray) -> np.ndarray:
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    posterior = softmax(logits)
    y = (posterior.cumsum(axis=1) > rng.random((len(logits), 1))).argmax(axis=1)
    model = softmax(true_t * logits)
    cut = np.cumsum(list(n.values()))[:-1]
    (lab, val, pool, test) = np.split(np.arange(len(y)), cut)
    return Split(
        logits[lab], y[lab], model[val], y[val], logits[pool], model[pool], y[pool],
        logits[test], y[test], true_t,
    )  # fmt: skip


def split_for(setting: str, seed: int) -> Split:
    if setting == "digits":
        return digits_split(seed)
    return generated_split(seed, float(setting.split("T=")[1]))


def _write(path: Path, ids: np.ndarray, probs: np.ndarray, labels: np.ndarray | None) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols: dict[str, Any] = {"id": pa.array(ids.astype(np.int64))}
    if labels is not None:
        cols["label"] = pa.array(labels.astype(np.int64))
    cols.update({f"prob_class_{c}": pa.array(probs[:, c]) for c in range(probs.shape[1])})
    path.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(cols), path / "part-00000.parquet")


def run_job(spark: Any, work: Path, target: float) -> tuple[dict[int, int], dict[str, Any]]:
    """The job's pseudo-labels (id -> label) and its metadata, for one target."""
    import pandas as pd

    from jobs.active_sample_selection import main as job_main

    out, meta = work / f"out{target}", work / f"meta{target}"
    env = {
        "SELECTION_STRATEGY": "confidence_threshold",
        "CONFIDENCE_THRESHOLD": "auto",
        "TARGET_ACCURACY": str(target),
        "CALIBRATION": "temperature",
        "LABEL_FIELD": "label",
        "OUTPUT_FORMAT": "parquet",
        "CHECK_UNIQUE_IDS": "false",  # unique by construction
    }
    argv = [
        "--input", str(work / "pool"), "--validation-data", str(work / "val"),
        "--output", str(out), "--metadata-output", str(meta), "--overwrite",
    ]  # fmt: skip
    logs = io.StringIO()
    with contextlib.redirect_stderr(logs):
        code = job_main(argv, env, spark)
    if code != 0:
        raise SystemExit(f"ssl_study: the job failed ({code}):\n{logs.getvalue()}")
    files = sorted(out.glob("*.parquet"))
    picked = (
        pd.concat([pd.read_parquet(f, columns=["id", "pseudo_label"]) for f in files])
        if files
        else pd.DataFrame({"id": [], "pseudo_label": []})
    )
    doc = json.loads(next(meta.glob("*.json")).read_text())
    return dict(zip(picked["id"].astype(int), picked["pseudo_label"].astype(int), strict=True)), doc


def global_threshold(probs: np.ndarray, labels: np.ndarray, target: float) -> float | None:
    """The lowest confidence whose validation rows at or above it (all classes together) have a
    Wilson lower bound >= target: the per-class rule with one class."""
    conf, ok = probs.max(axis=1), probs.argmax(axis=1) == labels
    order = np.argsort(-conf, kind="stable")
    conf, ok = conf[order], ok[order]
    z, best = wilson_z(LEVEL), None
    n_at, k_at = np.arange(1, len(conf) + 1), np.cumsum(ok)
    last = np.r_[conf[1:] != conf[:-1], True]  # ties are taken together
    for i in np.flatnonzero(last):
        if wilson_lower_value(int(k_at[i]), int(n_at[i]), z) >= target:
            best = float(conf[i])
    return best


def calibrated(probs: np.ndarray, temperature: float) -> np.ndarray:
    powered = probs ** (1.0 / temperature)
    return powered / powered.sum(axis=1, keepdims=True)


def _apply(probs: np.ndarray, thresholds: Sequence[float | None]) -> np.ndarray:
    """Rows whose confidence reaches their predicted class's threshold (None: none of them)."""
    cut = np.array([np.inf if t is None else t for t in thresholds])
    return probs.max(axis=1) >= cut[probs.argmax(axis=1)]


def run_seed(
    spark: Any, setting: str, seed: int, targets: Sequence[float], job_target: float
) -> dict[str, Any]:
    """One seed: the job at `job_target`; the other targets' thresholds by the same library
    call the job makes (`fit_class_thresholds`) on the job's fitted temperature."""
    from sklearn.linear_model import LogisticRegression

    s = split_for(setting, seed)
    base = LogisticRegression(max_iter=3000).fit(s.x_lab, s.y_lab)
    out: dict[str, Any] = {"labels_alone": float(base.score(s.x_test, s.y_test)), "targets": {}}
    pool_ids = np.arange(len(s.y_pool))
    with tempfile.TemporaryDirectory(prefix="ssl_study_") as tmp:
        work = Path(tmp)
        # The pool's labels only measure (the summary's pseudo_label_accuracy): with
        # --validation-data the job fits on that alone.
        _write(work / "pool", pool_ids, s.p_pool, s.y_pool)
        _write(work / "val", 1_000_000 + np.arange(len(s.y_val)), s.p_val, s.y_val)
        clock = time.monotonic()
        picked, doc = run_job(spark, work, job_target)
        seconds = time.monotonic() - clock
        cal = doc["calibration"]
        t_fit = float(cal["temperature"])
        val_cal, pool_cal = calibrated(s.p_val, t_fit), calibrated(s.p_pool, t_fit)
        fitted = {job_target: [c["threshold"] for c in doc["class_thresholds"]["classes"]]}
        validation = spark.read.parquet(str(work / "val"))
        for target in targets:
            if target not in fitted:
                fit = fit_class_thresholds(
                    validation, label_col="label", num_classes=CLASSES,
                    target_accuracy=target, scores=ScoreSpec(temperature=t_fit),
                )  # fmt: skip
                fitted[target] = fit.thresholds
        # The job's rule, applied here for the other targets: checked against its own picks.
        mine = _apply(pool_cal, fitted[job_target])
        assert set(np.flatnonzero(mine)) == set(picked), "the job's rule differs from _apply"
        for target in targets:
            taken = _apply(pool_cal, fitted[target])
            ids = np.flatnonzero(taken)
            pseudo = pool_cal.argmax(axis=1)[ids]
            right = pseudo == s.y_pool[ids]
            per_class = {}
            for c in range(CLASSES):
                if (pseudo == c).sum() >= MIN_SUPPORT:
                    per_class[str(c)] = float(right[pseudo == c].mean())
            g = global_threshold(val_cal, s.y_val, target)
            g_taken = pool_cal.max(axis=1) >= g if g is not None else np.zeros(len(ids), bool)
            g_right = pool_cal.argmax(axis=1)[g_taken] == s.y_pool[g_taken]
            retrain = LogisticRegression(max_iter=3000).fit(
                np.vstack([s.x_lab, s.x_pool[ids]]), np.concatenate([s.y_lab, pseudo])
            )
            out["targets"][str(target)] = {
                "pseudo_labels": len(ids),
                "accuracy": float(right.mean()) if len(ids) else None,
                "per_class_accuracy": per_class,
                "classes_left_out": [c for c, t in enumerate(fitted[target]) if t is None],
                "global_threshold": g,
                "global_pseudo_labels": int(g_taken.sum()),
                "global_accuracy": float(g_right.mean()) if g_taken.any() else None,
                "temperature": t_fit,
                "true_temperature": s.true_t,
                "ece_before": cal["ece_before"],
                "ece_after": cal["ece_after"],
                "retrained": float(retrain.score(s.x_test, s.y_test)),
            }
        out["job_seconds"] = round(seconds, 2)
        out["job_pseudo_label_accuracy"] = doc["validation"]["pseudo_label_accuracy"]
    return out


def summarise(runs: list[dict[str, Any]], targets: Sequence[float]) -> dict[str, Any]:
    """Per target, over the seeds: accuracy, seeds at target, per-class hits, coverage, T, ECE."""
    out: dict[str, Any] = {}
    for target in targets:
        rows = [r["targets"][str(target)] for r in runs]
        acc = [r["accuracy"] for r in rows if r["accuracy"] is not None]
        classes = [a for r in rows for a in r["per_class_accuracy"].values()]
        g_acc = [r["global_accuracy"] for r in rows if r["global_accuracy"] is not None]
        out[str(target)] = {
            "accuracy_mean": float(np.mean(acc)) if acc else None,
            "accuracy_min": float(np.min(acc)) if acc else None,
            "seeds_at_target": sum(a >= target for a in acc),
            "seeds_with_labels": len(acc),
            "class_hits": sum(a >= target for a in classes),
            "class_judged": len(classes),
            "pseudo_labels_mean": float(np.mean([r["pseudo_labels"] for r in rows])),
            "global_pseudo_labels_mean": float(np.mean([r["global_pseudo_labels"] for r in rows])),
            "global_accuracy_mean": float(np.mean(g_acc)) if g_acc else None,
            "global_seeds_at_target": sum(a >= target for a in g_acc),
            "classes_left_out_mean": float(np.mean([len(r["classes_left_out"]) for r in rows])),
            "temperature_mean": float(np.mean([r["temperature"] for r in rows])),
            "temperature_std": float(np.std([r["temperature"] for r in rows])),
            "true_temperature": rows[0]["true_temperature"],
            "ece_before_mean": float(np.mean([r["ece_before"] for r in rows])),
            "ece_after_mean": float(np.mean([r["ece_after"] for r in rows])),
            "labels_alone_mean": float(np.mean([r["labels_alone"] for r in runs])),
            "retrained_mean": float(np.mean([r["retrained"] for r in rows])),
            "retrain_wins": sum(
                r["retrained"] > x["labels_alone"] for r, x in zip(rows, runs, strict=True)
            ),
            "job_seconds_median": float(np.median([r["job_seconds"] for r in runs])),
        }
    return out


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    targets = [float(t) for t in result["targets"]]
    names = list(result["settings"])
    fig, axes = plt.subplots(2, len(names), figsize=(4.2 * len(names), 7), squeeze=False)
    for col, name in enumerate(names):
        runs = result["settings"][name]["runs"]
        top, bottom = axes[0][col], axes[1][col]
        for i, t in enumerate(targets):
            rows = [r["targets"][str(t)] for r in runs]
            acc = [r["accuracy"] for r in rows if r["accuracy"] is not None]
            g_acc = [r["global_accuracy"] for r in rows if r["global_accuracy"] is not None]
            top.scatter([i - 0.1] * len(acc), acc, s=12, color="C0", label="per class" * (i == 0))
            top.scatter([i + 0.1] * len(g_acc), g_acc, s=12, color="C1", label="global" * (i == 0))
            top.hlines(t, i - 0.3, i + 0.3, colors="k", linestyles="--")
            cov = [r["pseudo_labels"] for r in rows]
            g_cov = [r["global_pseudo_labels"] for r in rows]
            bottom.bar(i - 0.18, np.mean(cov), 0.36, yerr=np.std(cov), color="C0")
            bottom.bar(i + 0.18, np.mean(g_cov), 0.36, yerr=np.std(g_cov), color="C1")
        for ax in (top, bottom):
            ax.set_xticks(range(len(targets)), [f"target {t}" for t in targets])
        top.set_title(name, fontsize=10)
        top.set_ylabel("pseudo-label accuracy (held-back truth)")
        bottom.set_ylabel("pseudo-labels taken from the pool")
        top.grid(True, alpha=0.3)
        if col == 0:
            top.legend(fontsize=8)
    fig.suptitle(
        f"Accuracy-targeted pseudo-labels (CALIBRATION=temperature), {result['seeds']} seeds: "
        "per-class thresholds (blue) against one global threshold (orange); dashed: the target",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.ssl_study", description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--targets", default="0.9,0.95,0.98")
    parser.add_argument("--settings", default=",".join(SETTINGS))
    parser.add_argument("--job-target", type=float, default=0.9, help="the target the job runs")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--results-dir", default=str(ROOT / "bench" / "recorded"))
    parser.add_argument("--docs-dir", default=str(ROOT / "docs"))
    args = parser.parse_args(argv)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    targets = [float(t) for t in args.targets.split(",")]
    if args.job_target not in targets:
        parser.error("--job-target must be one of --targets")

    from selection.job.session import get_session

    spark = get_session(args.master)
    spark.conf.set("spark.sql.shuffle.partitions", "4")  # a few thousand rows per run
    settings: dict[str, Any] = {}
    clock = time.monotonic()
    try:
        for name in [s.strip() for s in args.settings.split(",") if s.strip()]:
            runs = []
            for seed in range(args.seeds):
                runs.append(run_seed(spark, name, seed, targets, args.job_target))
                first = runs[-1]["targets"][str(targets[0])]
                print(
                    f"{name} seed {seed}: T {first['temperature']:.3f}, accuracy "
                    + ", ".join(f"{t}: {runs[-1]['targets'][str(t)]['accuracy']}" for t in targets)
                    + f" [{(time.monotonic() - clock) / 60:.1f} min]",
                    flush=True,
                )
            settings[name] = {"summary": summarise(runs, targets), "runs": runs}
    finally:
        spark.stop()
    result = {
        "seeds": args.seeds,
        "targets": [str(t) for t in targets],
        "min_support": MIN_SUPPORT,
        "confidence_level": LEVEL,
        "settings": settings,
        "minutes": round((time.monotonic() - clock) / 60, 1),
        "description": (
            f"Per seed (0..{args.seeds - 1}), per setting: digits (100 labelled images train a "
            "logistic regression; 900 validation, 500 pool, 297 test) and a generated set of 10 "
            "classes with known posteriors whose model is tempered by T = 2 (over-confident) or "
            "0.5 (under-confident) (logits N(0, 4^2), Bayes accuracy 0.74; 100 labelled, 3,000 "
            "validation, 4,000 pool, 2,000 test). "
            "The job runs in-process with CONFIDENCE_THRESHOLD=auto, CALIBRATION=temperature, "
            f"CONFIDENCE_LEVEL={LEVEL}; accuracy is against the pool's held-back labels; a class "
            f"is judged on its own when it has at least {MIN_SUPPORT} pseudo-labels. *global*: "
            "one threshold for all classes chosen on the same calibrated validation confidences "
            "by the same Wilson rule. *retrained*: logistic regression on the labelled rows plus "
            "the pseudo-labels, against the labelled rows alone, on the test split."
        ),
    }
    studies.record(
        result, "ssl_study", plot, "pseudo_label_study.png", args.results_dir, args.docs_dir
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())


HEADER = [
    "setting", "target", "pseudo-labels: per class / global", "accuracy (mean, min)",
    "seeds at target", "classes at target", "global: accuracy, seeds at target",
    "classes left out", "retrained vs labels alone (seeds better)",
]  # fmt: skip


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def section(result: dict[str, Any] | None = None) -> list[str]:
    """The study's part of docs/benchmarks.md (bench.report), from the recorded JSON."""
    from bench import tables

    path = ROOT / "bench" / "recorded" / "ssl_study.json"
    if result is None and path.exists():
        result = json.loads(path.read_text())
    if not result:
        return ["Not run yet: `python -m bench.ssl_study` writes it."]
    seeds, rows, cal = result["seeds"], [], []
    for name, block in result["settings"].items():
        for target, s in block["summary"].items():
            rows.append([
                name, target,
                f"{s['pseudo_labels_mean']:.0f} / {s['global_pseudo_labels_mean']:.0f}",
                f"{_pct(s['accuracy_mean'])} (min {_pct(s['accuracy_min'])})",
                f"{s['seeds_at_target']} of {s['seeds_with_labels']}",
                f"{s['class_hits']} of {s['class_judged']}",
                f"{_pct(s['global_accuracy_mean'])}, {s['global_seeds_at_target']} seeds",
                f"{s['classes_left_out_mean']:.1f}",
                f"{s['retrained_mean']:.3f} vs {s['labels_alone_mean']:.3f} "
                f"({s['retrain_wins']} of {seeds})",
            ])  # fmt: skip
        s = next(iter(block["summary"].values()))
        truth = "-" if s["true_temperature"] is None else f"{s['true_temperature']:g}"
        cal.append([
            name, f"{s['temperature_mean']:.3f} ± {s['temperature_std']:.3f}", truth,
            f"{s['ece_before_mean']:.3f} → {s['ece_after_mean']:.3f}",
            f"{s['job_seconds_median']:.0f} s",
        ])  # fmt: skip
    return [
        "![pseudo-label accuracy and coverage per target](pseudo_label_study.png)",
        "",
        result["description"],
        "",
        *tables.table(HEADER, rows),
        "",
        *tables.table(
            ["setting", "fitted T (mean ± sd)", "true T", "ECE before → after", "job (median)"],
            cal,
        ),
        "",
        "Cost on the validation set: the temperature fit is one aggregate (the NLL and its "
        "derivatives at 21 temperatures, and the ECE before), the class thresholds one more "
        "(which also bins the ECE after); the pool is read by the selection's own scan alone. "
        f"Study time: {result['minutes']} min on a shared 2-core machine.",
    ]
