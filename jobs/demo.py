"""The job on an embedded example: digits, a small model, one SSL and one AL selection.

    python -m jobs.demo [--workdir demo_output]

Trains a logistic regression on 150 labelled digits, predicts the 1,647-image pool, writes the
predictions as CSV part files in the job's input format and runs the job on them twice, as a
pipeline would: pseudo-labels by confidence threshold, and a batch for human labelling by margin.
Then it holds VALIDATION of the pool's rows out as a labelled validation set and compares, on the
rest, the fixed threshold's pseudo-labels with accuracy-targeted, class-balanced ones
(CONFIDENCE_THRESHOLD=auto, TARGET_ACCURACY, MAX_PER_CLASS, CALIBRATION=temperature).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jobs.active_sample_selection import main as run_job
from selection.names import CONFIDENCE, METADATA_FILE, PSEUDO_LABEL, UNCERTAINTY_SCORE

SEED = 7
LABELLED = 150
PART_FILES = 3
EMBEDDING_DIMS = 8
VALIDATION = 600  # of the pool's rows: about 60 per class, enough to certify 0.9 in most
TRUSTED = {
    "SELECTION_STRATEGY": "confidence_threshold",
    "CONFIDENCE_THRESHOLD": "auto",
    "TARGET_ACCURACY": "0.9",
    "MAX_PER_CLASS": "40",
    "CALIBRATION": "temperature",
}


def write_predictions(directory: Path, holdout: Path | None = None) -> int:
    """Predict the digits pool and write it as CSV part files; returns the number of rows.

    With `holdout`, the pool's first VALIDATION rows go there instead (a labelled validation
    set) and the rest to `directory`.
    """
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression

    digits = load_digits()
    rng = np.random.default_rng(SEED)
    order = rng.permutation(len(digits.target))
    train, pool = order[:LABELLED], order[LABELLED:]
    x = digits.data / 16.0
    model = LogisticRegression(max_iter=2000).fit(x[train], digits.target[train])
    probs = model.predict_proba(x[pool])
    # A small embedding for diversity/BADGE; the 64 raw pixels would do, only slower.
    embedding = PCA(n_components=EMBEDDING_DIMS, random_state=SEED).fit(x).transform(x[pool])

    header = ["id", "label"] + [f"emb_{j}" for j in range(EMBEDDING_DIMS)]
    header += [f"prob_class_{c}" for c in range(probs.shape[1])]
    everything = np.arange(len(pool))
    splits = [(directory, everything)]
    if holdout is not None:
        splits = [(holdout, everything[:VALIDATION]), (directory, everything[VALIDATION:])]
    for target, indices in splits:
        target.mkdir(parents=True, exist_ok=True)
        for part, rows in enumerate(np.array_split(indices, PART_FILES)):
            with open(target / f"part-{part:05d}.csv", "w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(header)
                for i in rows:
                    writer.writerow(
                        [f"digit-{pool[i]:04d}", int(digits.target[pool[i]])]
                        + [f"{v:.6f}" for v in embedding[i]]
                        + [repr(float(p)) for p in probs[i]]
                    )
    return len(splits[-1][1])


def read_selected(directory: Path) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for part in sorted(directory.glob("*.csv")):  # selected_samples.csv, or part files
        with open(part, newline="") as handle:
            rows.extend(csv.DictReader(handle))
    return sorted(rows, key=lambda r: int(r["selection_rank"]))


def run_selection(
    name: str,
    workdir: Path,
    env: dict[str, str],
    spark: Any,
    job_type: str,
    source: str = "predictions",
    *extra: str,
) -> dict[str, Any]:
    out, meta = workdir / name / "selected", workdir / name / "metadata"
    argv = [
        *extra,
        "--job_type",
        job_type,
        "--input",
        str(workdir / source),
        "--output",
        str(out),
        "--metadata-output",
        str(meta),
        "--overwrite",
    ]
    code = run_job(argv, {**env, "LABEL_FIELD": "label"}, spark)
    if code != 0:
        raise SystemExit(f"demo: the {name} selection failed with exit code {code}")
    metadata: dict[str, Any] = json.loads((meta / METADATA_FILE).read_text())
    metadata["_rows"] = read_selected(out)
    metadata["_output"] = str(out)
    return metadata


def show(title: str, metadata: dict[str, Any], columns: Sequence[str]) -> None:
    print(f"\n{title}")
    print(
        f"  input rows {metadata['input_rows']}, selected {metadata['selected_rows']}, "
        f"per predicted class {metadata['per_class_selected']}"
    )
    print(f"  written to {metadata['_output']}")
    print("  " + "  ".join(f"{c:>18}" for c in columns))
    for row in metadata["_rows"][:5]:
        print("  " + "  ".join(f"{row[c][:18]:>18}" for c in columns))
    for warning in metadata["warnings"]:
        print(f"  warning: {warning}")


def per_class(rows: list[dict[str, str]]) -> dict[int, tuple[int, float | None]]:
    """Predicted class -> (pseudo-labels, their accuracy against the true labels)."""
    out: dict[int, tuple[int, float | None]] = {}
    for c in range(10):
        mine = [r for r in rows if int(r[PSEUDO_LABEL]) == c]
        right = sum(int(r["label"]) == c for r in mine)
        out[c] = (len(mine), right / len(mine) if mine else None)
    return out


def show_side_by_side(fixed: dict[str, Any], trusted: dict[str, Any]) -> None:
    print(
        f"\nSSL you can trust, on the {fixed['input_rows']} pool rows not held out "
        f"({VALIDATION} labelled rows validate): fixed threshold 0.9 beside "
        f"TARGET_ACCURACY={TRUSTED['TARGET_ACCURACY']}, MAX_PER_CLASS={TRUSTED['MAX_PER_CLASS']}, "
        "temperature scaling"
    )
    calibration = trusted["calibration"]
    print(
        f"  temperature {calibration['temperature']:.3f}: validation NLL "
        f"{calibration['nll_before']:.3f} -> {calibration['nll_after']:.3f}, ECE "
        f"{calibration['ece_before']:.3f} -> {calibration['ece_after']:.3f}"
    )
    thresholds = {c["class"]: c for c in trusted["class_thresholds"]["classes"]}
    a, b = per_class(fixed["_rows"]), per_class(trusted["_rows"])
    print(
        f"  {'class':>5} | {'fixed: rows':>11} {'accuracy':>8} | {'t_c':>6} {'rows':>5} "
        f"{'accuracy':>8} {'bound':>6}"
    )

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.1%}"

    for c in range(10):
        t = thresholds[c]
        shown_t = "-" if t["threshold"] is None else f"{t['threshold']:.3f}"
        bound = "-" if t["lower_bound"] is None else f"{t['lower_bound']:.3f}"
        print(
            f"  {c:>5} | {a[c][0]:>11} {pct(a[c][1]):>8} | {shown_t:>6} {b[c][0]:>5} "
            f"{pct(b[c][1]):>8} {bound:>6}"
        )
    for name, doc in (("fixed", fixed), ("trusted", trusted)):
        rows = doc["_rows"]
        right = sum(int(r["label"]) == int(r[PSEUDO_LABEL]) for r in rows)
        share = right / len(rows) if rows else None
        print(f"  {name}: {len(rows)} pseudo-labels, accuracy {pct(share)}")
    for warning in trusted["warnings"]:
        print(f"  warning: {warning}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="demo", description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="demo_output")
    args = parser.parse_args(argv)
    workdir = Path(args.workdir).resolve()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

    n = write_predictions(workdir / "predictions")
    print(
        f"predicted {n} digit images with a model trained on {LABELLED} labels "
        f"-> {workdir / 'predictions'}"
    )

    from selection.job.session import get_session

    spark = get_session("local[2]")
    try:
        ssl = run_selection(
            "ssl",
            workdir,
            {"SELECTION_STRATEGY": "confidence_threshold", "CONFIDENCE_THRESHOLD": "0.9"},
            spark,
            "ssl_selection",
        )
        al = run_selection(
            "active_learning",
            workdir,
            {"SELECTION_STRATEGY": "uncertainty", "UNCERTAINTY_MODE": "margin", "BATCH_SIZE": "20"},
            spark,
            "active_learning_selection",
        )
        write_predictions(workdir / "trusted_pool", workdir / "validation")
        fixed = run_selection(
            "ssl_fixed",
            workdir,
            {"SELECTION_STRATEGY": "confidence_threshold", "CONFIDENCE_THRESHOLD": "0.9"},
            spark,
            "ssl_selection",
            "trusted_pool",
        )
        trusted = run_selection(
            "ssl_trusted",
            workdir,
            TRUSTED,
            spark,
            "ssl_selection",
            "trusted_pool",
            "--validation-data",
            str(workdir / "validation"),
        )
    finally:
        spark.stop()

    show(
        "SSL: confidence_threshold >= 0.9 (pseudo-labels)",
        ssl,
        ["selection_rank", "id", "label", PSEUDO_LABEL, CONFIDENCE],
    )
    accuracy = ssl["validation"].get("pseudo_label_accuracy")
    if accuracy is not None:
        print(f"  pseudo-label accuracy against the true labels: {accuracy:.1%}")
    show(
        "Active learning: uncertainty (margin), batch of 20 for human labelling",
        al,
        ["selection_rank", "id", "label", UNCERTAINTY_SCORE],
    )
    share = al["validation"].get("share_misclassified")
    if share is not None:
        print(
            f"  share of the batch the model gets wrong: {share:.1%} "
            "(these are the labels worth paying for)"
        )
    show_side_by_side(fixed, trusted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
