"""The single-node baseline: the same selection in pandas/numpy, everything in memory.

    python -m bench.baseline --input DIR --strategy uncertainty [--impl numpy|skactiveml]

What a user would write without Spark: `pandas.read_parquet` of the whole directory, numpy for
the scores and the ranking (ties by ascending id, like the job), the selected rows written back
as Parquet. diversity and badge run the exact sequential algorithms (`bench.exact`), one pass
over all rows per pick. `--impl skactiveml` uses scikit-activeml's `uncertainty_scores`
(uncertainty) or `k_greedy_center` (diversity) instead of the numpy code.

With `--compare-only --compare-selected DIR` (the job's Parquet output on the same input) it
instead computes the job's covering radius / k-means cost from the data, for the quality
figures, in a process of its own so that the timed runs do not include it. Prints one line
`BENCH_BASELINE {json}`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench import exact
from selection.names import Strategy

MARKER = "BENCH_BASELINE "
STRATEGIES = ("floor", *Strategy)


def columns_like(df: Any, prefix: str) -> list[str]:
    names = [c for c in df.columns if c.startswith(prefix)]
    return sorted(names, key=lambda c: int(c[len(prefix) :]))


def rank_desc(score: np.ndarray, ids: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """`idx` ordered by score descending, then id ascending."""
    return idx[np.lexsort((ids[idx], -score[idx]))]


def top_n(score: np.ndarray, ids: np.ndarray, n: int) -> np.ndarray:
    """Indices of the n highest scores (ties by ascending id) in rank order; no full sort."""
    if n >= len(score):
        return rank_desc(score, ids, np.arange(len(score)))
    cut = np.partition(score, len(score) - n)[len(score) - n]
    above = np.flatnonzero(score > cut)
    tied = np.flatnonzero(score == cut)
    tied = tied[np.argsort(ids[tied], kind="stable")][: n - len(above)]
    return rank_desc(score, ids, np.concatenate([above, tied]))


def margin_score(p: np.ndarray) -> np.ndarray:
    top2 = np.partition(p, p.shape[1] - 2, axis=1)[:, -2:]
    return 1.0 - (top2[:, 1] - top2[:, 0])


def select(df: Any, args: argparse.Namespace, facts: dict[str, Any]) -> tuple[np.ndarray, Any]:
    """(selected row indices in rank order, the added output columns as a dict of arrays)."""
    ids = df["id"].to_numpy()
    probs = df[columns_like(df, "prob_class_")].to_numpy(dtype=np.float64)
    if args.strategy in ("confidence_threshold", "top_k_per_class"):
        conf = probs.max(axis=1)
        label = probs.argmax(axis=1)
        if args.strategy == "confidence_threshold":
            picks = rank_desc(conf, ids, np.flatnonzero(conf >= args.threshold))
            picks = picks[: args.max_samples] if args.max_samples > 0 else picks
        else:
            order = np.lexsort((ids, -conf, label))
            sorted_label = label[order]
            first = np.searchsorted(sorted_label, sorted_label, side="left")
            keep = order[np.arange(len(order)) - first < args.k_per_class]
            picks = rank_desc(conf, ids, keep)
        return picks, {"pseudo_label": label[picks], "confidence": conf[picks]}
    if args.strategy == "uncertainty":
        if args.impl == "skactiveml":
            from skactiveml.pool import uncertainty_scores

            score = uncertainty_scores(probs, method="margin_sampling")
        else:
            score = margin_score(probs)
        picks = top_n(score, ids, args.batch_size)
        return picks, {"uncertainty_score": score[picks]}
    x = df[columns_like(df, "emb_")].to_numpy(dtype=np.float64)
    start = int(np.random.default_rng(args.seed).integers(len(x)))
    if args.strategy == "diversity":
        if args.impl == "skactiveml":
            from skactiveml.pool._core_set import k_greedy_center

            y = np.full(len(x), np.nan)
            picks, _ = k_greedy_center(x, y, batch_size=args.batch_size, random_state=args.seed)
            picks = np.asarray(picks, dtype=np.int64)
            facts["covering_radius"] = exact.covering_radius(x, x[picks])
        else:
            picks, radius = exact.farthest_first(x, args.batch_size, start)
            facts["covering_radius"] = radius
    else:
        a = exact.gradient_factors(probs)
        picks = exact.kmeanspp(a, x, args.batch_size, args.seed)
        facts["kmeans_cost"] = exact.kmeans_cost(a, x, picks)
    return picks, {"uncertainty_score": margin_score(probs[picks])}


def compare(
    df: Any, selected_dir: str, strategy: str, batch_size: int, seed: int
) -> dict[str, Any]:
    """Quality of the job's selection, computed here from the same rows (not timed)."""
    import pandas as pd

    chosen = pd.read_parquet(selected_dir, columns=["id"])["id"].to_numpy()
    ids = df["id"].to_numpy()
    order = np.argsort(ids, kind="stable")
    idx = order[np.searchsorted(ids, chosen, sorter=order)]
    x = df[columns_like(df, "emb_")].to_numpy(dtype=np.float64)
    out: dict[str, Any] = {"job_selected": len(idx)}
    if strategy == "diversity":
        out["job_covering_radius"] = exact.covering_radius(x, x[idx])
    else:
        probs = df[columns_like(df, "prob_class_")].to_numpy(dtype=np.float64)
        a = exact.gradient_factors(probs)
        out["job_kmeans_cost"] = exact.kmeans_cost(a, x, idx)
        out["random_kmeans_cost"] = exact.random_cost(a, x, batch_size, seed)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.baseline", description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True)
    parser.add_argument("--strategy", choices=STRATEGIES, required=True)
    parser.add_argument("--impl", choices=("numpy", "skactiveml"), default="numpy")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--k-per-class", type=int, default=1000)
    parser.add_argument("--threshold", type=float, default=0.9)
    parser.add_argument("--max-samples", type=int, default=0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--output", default=None, help="where the selected rows go (temp dir)")
    parser.add_argument("--compare-selected", default=None)
    parser.add_argument("--compare-only", action="store_true")
    args = parser.parse_args(argv)

    import pandas as pd

    clock = time.monotonic()
    df = pd.read_parquet(args.input)
    facts: dict[str, Any] = {"rows": len(df), "read_seconds": time.monotonic() - clock}
    if args.compare_only:
        if not args.compare_selected or args.strategy not in (Strategy.DIVERSITY, Strategy.BADGE):
            parser.error("--compare-only needs --compare-selected and diversity or badge")
        facts.update(compare(df, args.compare_selected, args.strategy, args.batch_size, args.seed))
    elif args.strategy == "floor":
        df.sum(numeric_only=True)
        facts["selected"] = 0
    else:
        mark = time.monotonic()
        picks, added = select(df, args, facts)
        facts["select_seconds"] = time.monotonic() - mark
        mark = time.monotonic()
        out = df.iloc[picks].copy()
        for name, values in added.items():
            out[name] = values
        out["selection_rank"] = np.arange(1, len(picks) + 1)
        with tempfile.TemporaryDirectory() as tmp:
            target = Path(args.output or tmp)
            target.mkdir(parents=True, exist_ok=True)
            out.to_parquet(target / "part-00000.parquet", index=False)
        facts["write_seconds"] = time.monotonic() - mark
        facts["selected"] = len(picks)
    facts["seconds"] = time.monotonic() - clock
    print(MARKER + json.dumps(facts), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
