"""Synthetic prediction sets as Parquet part files, in the job's input format.

    python -m bench.generate --rows 1000000 [--features 16] [--classes 10] [--members 5] [--out DIR]

Each row: `id` (long), `label` (long), `emb_0..emb_{d-1}` (double) and
`prob_class_0..prob_class_{C-1}` (double). Features are a Gaussian mixture (one unit-variance
component per class around seeded centres); the probabilities are the mixture's exact posterior,
so they sum to 1, are calibrated and about 40% of the rows pass confidence 0.9 (with many classes
the centres need a wider `--spread` for that: 1.25 at C = 1000). Each part file
is written from its own seeded generator: the same arguments give the same bytes.

With `--members M` the set holds a committee instead of `prob_class_*`: member m's probability
of class c is `prob_member_<m>_class_<c>` (`selection.names`), the exact posterior of the same
mixture with its centres moved by seeded noise (`MEMBER_NOISE`, one draw per member, the same
in every part file): M plausible but slightly wrong models, which disagree most where classes
overlap, each summing to 1. `prob_class_*` is left out, so the job computes the members' mean
(the committee input the issue describes without the optional mean, and fewer columns to read);
the rows' ids, labels and features are those of the set without members.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from selection.names import DEFAULT_MEMBER_PREFIX, DEFAULT_SCORE_PREFIX, MEMBER_CLASS_INFIX

DONE = "_SUCCESS"  # the job and pyarrow both skip '_' files
ROW_GROUP_ROWS = 131_072  # ~30 MB groups at C = 10, so Spark can split a part file between tasks
ROW_GROUP_BYTES = 32 << 20  # and at most about that for wide rows: a task holds a whole group
CENTRE_SCALE = 0.6  # spread of the class centres against unit noise: how much classes overlap
MEMBER_NOISE = 0.15  # a committee member's error in each centre coordinate (centres: 0.6)


@dataclass(frozen=True)
class Spec:
    rows: int
    features: int = 16
    classes: int = 10
    rows_per_file: int = 1_000_000
    min_files: int = 4
    seed: int = 0
    spread: float | None = None  # class-centre spread; None: CENTRE_SCALE
    members: int = 0  # committee members (prob_member_*) in place of prob_class_*; 0: none

    @property
    def centre_scale(self) -> float:
        return CENTRE_SCALE if self.spread is None else self.spread

    @property
    def files(self) -> int:
        return max(self.min_files, math.ceil(self.rows / self.rows_per_file))

    @property
    def name(self) -> str:
        name = f"pred_n{self.rows}_f{self.features}_c{self.classes}_p{self.files}_s{self.seed}"
        name = name if self.spread is None else f"{name}_w{self.spread:g}"
        return name if not self.members else f"{name}_m{self.members}"

    def columns(self) -> list[str]:
        return ["id", "label"] + [f"emb_{j}" for j in range(self.features)] + self.scores()

    def scores(self) -> list[str]:
        """The probability columns: prob_class_<c>, or with members prob_member_<m>_class_<c>."""
        if not self.members:
            return [f"{DEFAULT_SCORE_PREFIX}{c}" for c in range(self.classes)]
        return [member_column(m, c) for m in range(self.members) for c in range(self.classes)]


def member_column(m: int, c: int) -> str:
    return f"{DEFAULT_MEMBER_PREFIX}{m}{MEMBER_CLASS_INFIX}{c}"


def centres(spec: Spec) -> np.ndarray:
    rng = np.random.default_rng([spec.seed, 0xC0FFEE])
    return rng.normal(0.0, spec.centre_scale, size=(spec.classes, spec.features))


def posterior(x: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """p(class | x) of the unit-variance mixture with equal weights (a softmax of -d^2/2)."""
    logits = x @ mu.T - 0.5 * np.einsum("ij,ij->i", mu, mu)[None, :]
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    return p


def member_centres(spec: Spec) -> list[np.ndarray]:
    """Each member's centres: the true ones plus that member's own seeded error."""
    mu = centres(spec)
    return [
        mu + np.random.default_rng([spec.seed, 0xC0FFEE, m]).normal(0.0, MEMBER_NOISE, mu.shape)
        for m in range(spec.members)
    ]


def part_arrays(spec: Spec, part: int) -> dict[str, np.ndarray]:
    """Columns of part file `part` (rows split as evenly as possible, ids consecutive)."""
    bounds = np.linspace(0, spec.rows, spec.files + 1).astype(np.int64)
    lo, hi = int(bounds[part]), int(bounds[part + 1])
    rng = np.random.default_rng([spec.seed, part])
    mu = centres(spec)
    label = rng.integers(0, spec.classes, size=hi - lo)
    x = mu[label] + rng.standard_normal((hi - lo, spec.features))
    cols: dict[str, np.ndarray] = {"id": np.arange(lo, hi, dtype=np.int64), "label": label}
    cols.update({f"emb_{j}": x[:, j] for j in range(spec.features)})
    if not spec.members:
        p = posterior(x, mu)
        cols.update({f"{DEFAULT_SCORE_PREFIX}{c}": p[:, c] for c in range(spec.classes)})
        return cols
    for m, mu_m in enumerate(member_centres(spec)):
        p = posterior(x, mu_m)
        cols.update({member_column(m, c): p[:, c] for c in range(spec.classes)})
    return cols


def generate(root: Path, spec: Spec, *, quiet: bool = False) -> Path:
    """Write the set under root/spec.name (skipped when a complete copy is there); its path."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = root / spec.name
    if (out / DONE).exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    for part in range(spec.files):
        cols = part_arrays(spec, part)
        table = pa.table({k: pa.array(v) for k, v in cols.items()})
        # A row is 8 KB at C = 1000: one 25k-row group per task (200 MB, two tasks at once) is
        # what a 1 GB local JVM died of; bound groups by bytes as Spark does (parquet.block.size).
        group = max(1024, min(ROW_GROUP_ROWS, ROW_GROUP_BYTES // (8 * len(table.column_names))))
        pq.write_table(table, out / f"part-{part:05d}.parquet", row_group_size=group)
    (out / DONE).write_text(json.dumps(asdict(spec)))
    if not quiet:
        print(
            f"generated {spec.rows:,} rows in {spec.files} files -> {out} "
            f"({time.monotonic() - start:.0f} s, {dir_bytes(out) / 1e9:.2f} GB)",
            file=sys.stderr,
        )
    return out


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.glob("*.parquet"))


def load_numpy(path: Path, columns: Sequence[str]) -> np.ndarray:
    """Columns of a generated set as one (n, k) float64 array (for the exact algorithms)."""
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=list(columns))
    return np.column_stack([table.column(c).to_numpy() for c in columns]).astype(np.float64)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.generate", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--features", type=int, default=16)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--rows-per-file", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--spread", type=float, default=None, help=f"default {CENTRE_SCALE}")
    parser.add_argument("--members", type=int, default=0, help="committee members; 0: none")
    parser.add_argument("--out", default="bench/results/data")
    args = parser.parse_args(argv)
    spec = Spec(
        args.rows, args.features, args.classes, args.rows_per_file, seed=args.seed,
        spread=args.spread, members=args.members,
    )  # fmt: skip
    print(generate(Path(args.out), spec))
    return 0


if __name__ == "__main__":
    sys.exit(main())
