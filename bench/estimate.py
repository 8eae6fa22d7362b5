"""How long a cell, a group and the plan take: measured medians where there are any, else a model.

The model is the quiet-machine floor of the recorded 2026-11-28 run (14 s of whole process at 1M
rows, about 1 s more per million rows of 28 columns on local[2]) times the target ratio of each
row: it says how long the plan takes once the targets are met, and runs longer while they are
not. After a first session the measured medians replace it.
"""

from __future__ import annotations

from bench import plan
from bench.plan import Cell, Group
from bench.results import Results

START_SECONDS = 12.0  # Python, JVM and session start, first query, listing
SECONDS_PER_MVALUE = 0.04  # one local[2] scan, per million values read
SECONDS_PER_COLUMN = 0.01  # planning and code generation: ~10 s more at C = 1000 (smoke runs)
PINNED_SLOWDOWN = 1.8
RATIO = {"diversity": 3.0, "badge": 5.0, "cluster_margin": 3.0}
SCAN_RATIO = {False: 1.3, True: 1.5}  # CHECK_UNIQUE_IDS
EXACT_SECONDS_PER_M = {"diversity": 30.0, "badge": 38.0}
GENERATE_SECONDS_PER_MVALUE = 0.15
SMALL_ROWS, SMALL_RATIO = 100_000, 1.6


def columns(classes: int, members: int = 0) -> int:
    """id, label, features and one column per class (per member and class for a committee)."""
    return 2 + plan.FEATURES + classes * max(1, members)


def values(n: int, classes: int, members: int = 0) -> float:
    """Millions of values in an input."""
    return n * columns(classes, members) / 1e6


def floor_seconds(n: int, classes: int = plan.CLASSES, members: int = 0) -> float:
    return (
        START_SECONDS
        + SECONDS_PER_MVALUE * values(n, classes, members)
        + SECONDS_PER_COLUMN * columns(classes, members)
    )


def model(cell: Cell) -> float:
    """Whole-process seconds of one run of `cell` if the job meets its targets."""
    mill = cell.n / 1e6
    if cell.kind == plan.BASELINE:
        read = 2.0 + 0.6 * mill
        return read + EXACT_SECONDS_PER_M.get(cell.strategy, 1.5) * mill
    if cell.kind == plan.QUALITY:
        return 3.0 + 20.0 * mill
    f = floor_seconds(cell.n, cell.classes, cell.members)
    if cell.master == plan.PINNED:
        f *= PINNED_SLOWDOWN
    if cell.kind == plan.FLOOR:
        return f
    if cell.kind == plan.WRITE_FLOOR:
        return 1.25 * f
    if cell.n <= SMALL_ROWS:
        return SMALL_RATIO * f  # the fixed cost is all there is
    if cell.strategy in RATIO:
        return RATIO[cell.strategy] * f
    if cell.strategy == "confidence_threshold" and not cell.capped:
        return 1.3 * 1.25 * f
    return SCAN_RATIO[cell.ids] * f


def seconds(cell: Cell, results: Results | None) -> float:
    """Measured median whole-process seconds of `cell`, else the model's."""
    picked = results.pick(cell.key) if results is not None else None
    measured = picked.median("wall_seconds") if picked is not None else None
    return measured if measured is not None else model(cell)


def group_seconds(group: Group, results: Results | None, *, reps: int | None = None) -> float:
    reps = group.reps if reps is None else min(reps, group.reps)
    once = sum(seconds(c, results) for c in group.once)
    return reps * sum(seconds(c, results) for c in group.cells) + once


def generate_seconds(n: int, classes: int, members: int = 0) -> float:
    return GENERATE_SECONDS_PER_MVALUE * values(n, classes, members)


def plan_rows(groups: list[Group], results: Results | None, reps: int = 0) -> list[list[str]]:
    """[group, cells, reps, minutes, data generation minutes, what] per group, and a total."""
    from bench.execute import spec

    rows, total, total_gen = [], 0.0, 0.0
    seen: set[tuple[int, int, int]] = set()
    for g in groups:
        r = min(g.reps, reps) if reps else g.reps
        minutes = group_seconds(g, results, reps=r) / 60
        new = [i for i in g.inputs if i not in seen]
        seen.update(new)
        gen = sum(generate_seconds(*i) for i in new) / 60
        total, total_gen = total + minutes, total_gen + gen
        data = ", ".join(spec(*i).name for i in new) or "(generated above)"
        rows.append(
            [
                g.name,
                str(len(g.cells) + len(g.once)),
                str(r),
                f"{minutes:.1f}",
                f"{gen:.1f}",
                g.note + ("" if g.default else " (not in the default plan)"),
                data,
            ]
        )
    rows.append(["total", "", "", f"{total:.1f}", f"{total_gen:.1f}", "", ""])
    return rows
