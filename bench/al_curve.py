"""An active-learning loop on scikit-learn's digits that calls the selection job every round.

    python -m bench.al_curve [--seeds 5] [--rounds 10] [--batch 20] [--initial 20]

Per seed: a stratified 30% test split; the rest is the pool. 20 random pool images are labelled,
then each round a logistic regression is trained on the labelled images, its accuracy on the test
split recorded, and the job (in-process, on one local[2] SparkSession) picks the next batch from
the pool: the input is every pool image with the model's `prob_class_*` and the 64 pixel values
as `emb_*` features, the labelled images are its `--labeled-data`. Every curve runs the job:
random, margin, entropy, bald (a committee of 5 logistic regressions on bootstrap resamples of
the labelled images, given as prob_member_* columns), diversity, badge and cluster_margin.
`--batch` sets the batch (20; 126 is 10% of the pool, run with `--rounds 5`). Writes
docs/al_curve_b<batch>.png and bench/recorded/al_curve_b<batch>.json (mean and standard deviation
over the seeds), then docs/benchmarks.md again; each batch size keeps its own record.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench import report, studies
from selection.names import DEFAULT_MEMBER_PREFIX, MEMBER_CLASS_INFIX, Strategy

ROOT = Path(__file__).resolve().parent.parent
# Curve name -> (strategy, extra variables). bald scores a committee of bootstrapped models.
CURVES: dict[str, tuple[str, dict[str, str]]] = {
    "random": (Strategy.RANDOM.value, {}),
    "margin": (Strategy.UNCERTAINTY.value, {"UNCERTAINTY_MODE": "margin"}),
    "entropy": (Strategy.UNCERTAINTY.value, {"UNCERTAINTY_MODE": "entropy"}),
    "bald": (Strategy.UNCERTAINTY.value, {"UNCERTAINTY_MODE": "bald"}),
    "diversity": (Strategy.DIVERSITY.value, {}),
    "badge": (Strategy.BADGE.value, {}),
    "cluster_margin": (Strategy.CLUSTER_MARGIN.value, {}),
}
STRATEGIES = tuple(CURVES)
COMMITTEE = 5  # bootstrapped members for bald
POOL = 1257  # digits' 1,797 images less the stratified 30% test split


def pool_table(
    ids: np.ndarray, x: np.ndarray, probs: np.ndarray | None, members: np.ndarray | None = None
) -> Any:
    """id, emb_*, and either prob_class_* or (a committee) prob_member_<m>_class_<c>."""
    import pyarrow as pa

    cols: dict[str, Any] = {"id": pa.array(ids.astype(np.int64))}
    cols.update({f"emb_{j}": pa.array(x[:, j]) for j in range(x.shape[1])})
    if members is not None:
        for m in range(members.shape[0]):
            for c in range(members.shape[2]):
                cols[f"{DEFAULT_MEMBER_PREFIX}{m}{MEMBER_CLASS_INFIX}{c}"] = pa.array(
                    members[m, :, c]
                )
    elif probs is not None:
        cols.update({f"prob_class_{c}": pa.array(probs[:, c]) for c in range(probs.shape[1])})
    return pa.table(cols)


def bootstrap_members(
    x: np.ndarray, y: np.ndarray, pool_x: np.ndarray, seed: int, classes: int = 10
) -> np.ndarray:
    """members x pool x classes: logistic regressions fit on bootstrap resamples of (x, y)."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    out = np.zeros((COMMITTEE, len(pool_x), classes))
    for m in range(COMMITTEE):
        pick = rng.integers(0, len(y), size=len(y))
        while len(np.unique(y[pick])) < 2:  # a resample needs two classes to fit
            pick = rng.integers(0, len(y), size=len(y))
        model = LogisticRegression(max_iter=3000).fit(x[pick], y[pick])
        out[m] = full_probs(model, pool_x, classes)
    return out


def full_probs(model: Any, x: np.ndarray, classes: int) -> np.ndarray:
    """predict_proba with a column for every class (0 for a class the model has not seen)."""
    out = np.zeros((len(x), classes))
    out[:, model.classes_] = model.predict_proba(x)
    return out


def select_with_job(
    spark: Any,
    strategy: str,
    work: Path,
    ids: np.ndarray,
    x: np.ndarray,
    probs: np.ndarray,
    labelled: np.ndarray,
    batch: int,
    seed: int,
    members: np.ndarray | None = None,
) -> tuple[list[int], float]:
    """The job's picks for one round (ids), and its seconds."""
    import pandas as pd
    import pyarrow.parquet as pq

    from jobs.active_sample_selection import main as run_job

    (work / "pool").mkdir(parents=True, exist_ok=True)
    (work / "labelled").mkdir(parents=True, exist_ok=True)
    pq.write_table(pool_table(ids, x, probs, members), work / "pool" / "part-00000.parquet")
    mask = np.isin(ids, labelled)
    pq.write_table(pool_table(ids[mask], x[mask], None), work / "labelled" / "part-00000.parquet")
    name, extra = CURVES[strategy]
    env = {
        **extra,
        "SELECTION_STRATEGY": name,
        "BATCH_SIZE": str(batch),
        "RANDOM_SEED": str(seed),
        "OUTPUT_FORMAT": "parquet",
        "CHECK_UNIQUE_IDS": "false",  # unique by construction; saves a pass per round
    }
    argv = [
        "--job_type", "active_learning_selection", "--input", str(work / "pool"),
        "--labeled-data", str(work / "labelled"), "--output", str(work / "selected"),
        "--metadata-output", str(work / "metadata"), "--overwrite",
    ]  # fmt: skip
    logs = io.StringIO()
    clock = time.monotonic()
    with contextlib.redirect_stderr(logs):
        code = run_job(argv, env, spark)
    seconds = time.monotonic() - clock
    # The strategies' persisted intermediates outlive a run in a shared session.
    spark.catalog.clearCache()
    if code != 0:
        raise SystemExit(f"al_curve: the {strategy} job failed ({code}):\n{logs.getvalue()}")
    picked = pd.read_parquet(work / "selected", columns=["id", "selection_rank"])
    return picked.sort_values("selection_rank")["id"].astype(int).tolist(), seconds


def run_seed(spark: Any, strategy: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x_all, y_all = digits.data / 16.0, digits.target
    pool, test = train_test_split(
        np.arange(len(y_all)), test_size=0.3, stratify=y_all, random_state=seed
    )
    rng = np.random.default_rng(seed)
    labelled = rng.choice(pool, size=args.initial, replace=False)
    accuracy, seconds = [], []
    with tempfile.TemporaryDirectory(prefix="al_curve_") as tmp:
        for r in range(args.rounds + 1):
            model = LogisticRegression(max_iter=3000).fit(x_all[labelled], y_all[labelled])
            accuracy.append(float(model.score(x_all[test], y_all[test])))
            if r == args.rounds:
                break
            probs = full_probs(model, x_all[pool], 10)
            members = None
            if strategy == "bald":
                members = bootstrap_members(
                    x_all[labelled], y_all[labelled], x_all[pool], seed * 1000 + r
                )
            picks, s = select_with_job(
                spark, strategy, Path(tmp) / f"round{r}", pool, x_all[pool], probs,
                labelled, args.batch, seed * 1000 + r, members,
            )  # fmt: skip
            seconds.append(s)
            assert not np.isin(picks, labelled).any(), "the job picked a labelled image"
            labelled = np.concatenate([labelled, np.asarray(picks, dtype=labelled.dtype)])
    return {"accuracy": accuracy, "job_seconds": seconds}


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    labels = np.array(result["labels"])
    for name, curve in result["curves"].items():
        mean, std = np.array(curve["mean"]), np.array(curve["std"])
        style = "--" if name == "random" else "-"
        (line,) = ax.plot(labels, mean, style, marker="o", markersize=3, label=name)
        ax.fill_between(labels, mean - std, mean + std, color=line.get_color(), alpha=0.15)
    ax.set_xlabel("labels spent")
    ax.set_ylabel("test accuracy")
    ax.set_title(
        f"Active learning on digits: logistic regression, batches of {result['batch']}, "
        f"mean ± sd over {result['seeds']} seeds",
        fontsize=9,
    )
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.al_curve", description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--initial", type=int, default=20)
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--results-dir", default=str(ROOT / "bench" / "recorded"))
    parser.add_argument("--docs-dir", default=str(ROOT / "docs"))
    args = parser.parse_args(argv)
    if args.initial + args.rounds * args.batch > POOL:
        parser.error(
            f"{args.initial} + {args.rounds} rounds of {args.batch} labels exceed the pool of "
            f"{POOL} images: lower --rounds or --batch"
        )
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # Hundreds of jobs share one session here: the status store keeps fewer of them, so a
    # thousand wide plans do not fill the 1 GB driver (a 10-seed run died in KMeans without).
    os.environ.setdefault(
        "PYSPARK_SUBMIT_ARGS",
        "--conf spark.ui.retainedJobs=100 --conf spark.ui.retainedStages=100 "
        "--conf spark.sql.ui.retainedExecutions=50 pyspark-shell",
    )

    from selection.job.session import get_session

    spark = get_session(args.master)
    curves: dict[str, Any] = {}
    clock = time.monotonic()
    try:
        for strategy in [s.strip() for s in args.strategies.split(",") if s.strip()]:
            runs = []
            for seed in range(args.seeds):
                runs.append(run_seed(spark, strategy, seed, args))
                print(
                    f"{strategy} seed {seed}: accuracy {runs[-1]['accuracy'][0]:.3f} -> "
                    f"{runs[-1]['accuracy'][-1]:.3f} [{(time.monotonic() - clock) / 60:.1f} min]",
                    flush=True,
                )
            acc = np.array([r["accuracy"] for r in runs])
            job_s = [s for r in runs for s in r["job_seconds"]]
            curves[strategy] = {
                "mean": acc.mean(axis=0).tolist(),
                "std": acc.std(axis=0).tolist(),
                "runs": acc.tolist(),
                "job_seconds_median": float(np.median(job_s)) if job_s else None,
            }
    finally:
        spark.stop()
    result = {
        "labels": [args.initial + r * args.batch for r in range(args.rounds + 1)],
        "batch": args.batch,
        "seeds": args.seeds,
        "curves": curves,
        "minutes": round((time.monotonic() - clock) / 60, 1),
        "description": (
            "Logistic regression on scikit-learn's digits (1,797 images, 8 by 8 pixels). Per "
            f"seed (0..{args.seeds - 1}): a stratified 30% test split, the other 1,257 images "
            f"are the pool; {args.initial} random labels, then {args.rounds} rounds of "
            f"{args.batch}. Each round the job runs in-process (`main(argv, env, spark)`, "
            f"{args.master}) on the whole pool with the model's probabilities and the 64 pixel "
            "values as `emb_*` features, the labelled images as `--labeled-data` "
            "(CHECK_UNIQUE_IDS=false); bald reads a committee of 5 bootstrapped logistic "
            "regressions. Mean ± standard deviation of test accuracy over the seeds."
        ),
    }
    studies.record(
        result,
        report.al_name(args.batch),
        plot,
        f"{report.al_name(args.batch)}.png",
        args.results_dir,
        args.docs_dir,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
