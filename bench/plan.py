"""What `make bench` measures: the cells (one process each), grouped as they are run and timed.

A *cell* is one command on one input (a floor, a job with its settings, a numpy baseline); a
*group* is a set of cells run interleaved on the same input, `reps` times, with its own floor, so
every ratio compares runs made under the same load. The settings are the ones the targets of
issue 10 fix: Parquet, 16 features, 10 classes, BATCH_SIZE = K_PER_CLASS = 1000, local[2], the
default 1 GB driver.

Issue 14 adds random to the scan groups, the committee modes on an input with M = 5 members'
probabilities in place of `prob_class_*` (their own groups, whose floor reads that input), and
cluster_margin at BATCH_SIZE = 10^5 with its memory in n and in BATCH_SIZE.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from selection.names import COMMITTEE_MODES, JOB_TYPES, SSL_STRATEGIES, Strategy, UncertaintyMode

MASTER = "local[2]"
PINNED = "local[1] pinned"  # local[1] with the whole process tree on one CPU (taskset -c 0)
FEATURES = 16
CLASSES = 10
WIDE = 1000  # the many-classes rows (issue 12)
BATCH_SIZE = 1000
K_PER_CLASS = 1000
THRESHOLD = 0.9
MAX_SAMPLES = 1000  # the cap of "capped" confidence_threshold
MEMBERS = 5  # committee members of the committee inputs (bench.generate --members)
SEED = 42
REPS = 3

FLOOR, WRITE_FLOOR, JOB, BASELINE, QUALITY = "floor", "write_floor", "job", "baseline", "quality"
EMBEDDING = (Strategy.DIVERSITY, Strategy.BADGE)


@dataclass(frozen=True)
class Cell:
    kind: str  # FLOOR, WRITE_FLOOR, JOB, BASELINE or QUALITY
    n: int
    classes: int = CLASSES
    master: str = MASTER
    strategy: str = ""
    mode: str = ""  # uncertainty mode
    capped: bool = False  # confidence_threshold with MAX_SAMPLES
    ids: bool = True  # CHECK_UNIQUE_IDS
    arrow: str = "off"  # the engine's pyarrow switch: off (the required path) or auto
    group: str = ""  # floors only: each group's floor is its own cell
    members: int = 0  # the input's committee members (prob_member_*); 0: prob_class_* only
    agreement: bool = False  # confidence_threshold with REQUIRE_AGREEMENT
    batch: int = 0  # BATCH_SIZE when not the plan's BATCH_SIZE

    @property
    def label(self) -> str:
        """What the row is called in the tables (without size, classes or master)."""
        if self.kind in (FLOOR, WRITE_FLOOR):
            return "floor" if self.kind == FLOOR else "write floor"
        name = self.strategy
        if self.strategy == Strategy.UNCERTAINTY and self.mode:
            name += f" ({self.mode})"
        elif self.strategy == Strategy.CONFIDENCE_THRESHOLD:
            cap = "capped" if self.capped else "uncapped"
            name += f" ({cap}, agreement)" if self.agreement else f" ({cap})"
        if self.batch:
            name += f" (BATCH_SIZE {self.batch:,})"
        if self.kind == JOB and self.strategy in EMBEDDING and self.arrow != "off":
            name += " (pyarrow)"
        if self.kind == BASELINE:
            name += " (numpy)"
        if self.kind == QUALITY:
            name += " (quality)"
        return name

    @property
    def key(self) -> str:
        """Identity of the cell in results.json: runs with the same key measure the same thing."""
        parts = [self.kind, self.label, f"n={self.n}", f"C={self.classes}"]
        if self.members:
            parts.append(f"M={self.members}")
        if self.kind in (FLOOR, WRITE_FLOOR, JOB):
            parts.append(self.master)
        if self.kind == JOB:
            parts.append(f"ids={str(self.ids).lower()}")
        if self.group:
            parts.append(f"@{self.group}")
        return " ".join(parts)

    @property
    def spark(self) -> bool:
        return self.kind in (FLOOR, WRITE_FLOOR, JOB)

    @property
    def input(self) -> tuple[int, int, int]:
        """(rows, classes, members) of the generated input the cell reads."""
        return (self.n, self.classes, self.members)


def floor(
    n: int, group: str, *, classes: int = CLASSES, master: str = MASTER, members: int = 0
) -> Cell:
    return Cell(FLOOR, n, classes, master, group=group, members=members)


def job(strategy: Strategy, n: int, **kw: object) -> Cell:
    mode = UncertaintyMode.MARGIN.value if strategy == Strategy.UNCERTAINTY else ""
    fields: dict = {"strategy": strategy.value, "mode": mode, **kw}
    if strategy != Strategy.CONFIDENCE_THRESHOLD:
        fields["capped"] = False
    if strategy not in EMBEDDING:
        fields["arrow"] = "off"
    return Cell(JOB, n, **fields)


def scan_cases(n: int, *, ids: bool) -> list[Cell]:
    """Every O(n) strategy row: each single-model uncertainty mode, capped
    confidence_threshold, top_k, random."""
    # Single-model modes only: the committee modes read the committee inputs (committee_cases).
    single = [m for m in UncertaintyMode if m not in COMMITTEE_MODES]
    cells = [job(Strategy.UNCERTAINTY, n, mode=m.value, ids=ids) for m in single]
    cells.append(job(Strategy.CONFIDENCE_THRESHOLD, n, capped=True, ids=ids))
    cells.append(job(Strategy.TOP_K_PER_CLASS, n, ids=ids))
    cells.append(job(Strategy.RANDOM, n, ids=ids))
    return cells


def committee_cases(n: int) -> list[Cell]:
    """The committee rows on an input of MEMBERS members (issue 14's target is the 1.3x of
    CHECK_UNIQUE_IDS=false; the id check costs what it costs on any input): each committee
    mode, and capped confidence_threshold with REQUIRE_AGREEMENT."""
    cells = [
        job(Strategy.UNCERTAINTY, n, mode=m.value, ids=False, members=MEMBERS)
        for m in COMMITTEE_MODES
    ]
    cells.append(
        job(Strategy.CONFIDENCE_THRESHOLD, n, capped=True, agreement=True, ids=False,
            members=MEMBERS)
    )  # fmt: skip
    return cells


def cluster_case(n: int, batch: int = 0) -> Cell:
    """cluster_margin with its defaults (MARGIN_OVERSAMPLE 10, sqrt(candidates) clusters)."""
    return job(Strategy.CLUSTER_MARGIN, n, batch=batch)


def uncapped(n: int, **kw: object) -> Cell:
    # Compared with the write floor, which checks no ids either.
    return job(Strategy.CONFIDENCE_THRESHOLD, n, capped=False, **{"ids": False, **kw})


def speedup_cases(n: int, master: str = MASTER) -> list[Cell]:
    """The O(n) strategies the local[1] comparison runs (defaults: ids checked)."""
    return [
        job(Strategy.UNCERTAINTY, n, master=master),
        job(Strategy.CONFIDENCE_THRESHOLD, n, capped=True, master=master),
        job(Strategy.TOP_K_PER_CLASS, n, master=master),
    ]


def embedding_jobs(n: int, arrow: str) -> list[Cell]:
    return [job(s, n, arrow=arrow) for s in EMBEDDING]


def wide_cases(n: int) -> list[Cell]:
    return [
        job(Strategy.UNCERTAINTY, n, classes=WIDE),
        job(Strategy.CONFIDENCE_THRESHOLD, n, classes=WIDE, capped=True),
    ]


@dataclass(frozen=True)
class Sizes:
    """The row counts of a profile: the real targets, or small stand-ins for a smoke test."""

    scan: tuple[int, ...]  # the O(n) rows
    embed: tuple[int, ...]  # diversity and badge timed
    memory: int  # diversity and badge once more, for the memory row (the largest scan size)
    exact: int  # the exact numpy algorithms and the quality figures
    speedup: int  # local[1] pinned against local[2]
    small: int  # the fixed-cost rows
    wide: tuple[int, int]  # C = 1000: two sizes, so the per-row cost is a slope
    committee: tuple[int, ...] = (1_000_000, 5_000_000)  # the committee rows
    cluster: tuple[int, int] = (1_000_000, 5_000_000)  # cluster_margin: memory from, timed at
    big_batch: int = 100_000  # cluster_margin's large BATCH_SIZE


FULL = Sizes(
    (1_000_000, 5_000_000, 20_000_000),
    (1_000_000, 5_000_000),
    20_000_000,
    1_000_000,
    5_000_000,
    10_000,
    (10_000, 100_000),
)
QUICK = Sizes(
    (20_000, 40_000), (20_000,), 40_000, 20_000, 40_000, 10_000, (2_000, 5_000),
    committee=(20_000, 40_000), cluster=(20_000, 40_000), big_batch=1_000,
)  # fmt: skip
PROFILES = {"full": FULL, "quick": QUICK}


@dataclass(frozen=True)
class Group:
    name: str
    cells: tuple[Cell, ...]  # one rep, in run order: the floors first
    reps: int = REPS
    once: tuple[Cell, ...] = field(default=())  # after the first rep (untimed quality figures)
    default: bool = True  # part of a plain `make bench`
    note: str = ""

    @property
    def inputs(self) -> list[tuple[int, int, int]]:
        """(rows, classes, members) of every input the group reads, in first-use order."""
        return list(dict.fromkeys(c.input for c in (*self.cells, *self.once)))


def short(n: int) -> str:
    for unit, size in (("m", 1_000_000), ("k", 1_000)):
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    return str(n)


def scan_group(n: int, reps: int) -> Group:
    name = f"scan-{short(n)}"
    cells = [floor(n, name), Cell(WRITE_FLOOR, n, group=name)]
    cells += [*scan_cases(n, ids=False), *scan_cases(n, ids=True), uncapped(n)]
    return Group(name, tuple(cells), reps, note="O(n) rows, both id settings")


def small_group(n: int, reps: int) -> Group:
    name = f"small-{short(n)}"
    cells = [floor(n, name), *speedup_cases(n), uncapped(n, ids=True), *embedding_jobs(n, "off")]
    return Group(name, tuple(cells), reps, note="fixed cost")


def wide_group(sizes: tuple[int, int], reps: int) -> Group:
    name = f"classes-{WIDE}"
    cells = [c for n in sizes for c in (floor(n, name, classes=WIDE), *wide_cases(n))]
    return Group(name, tuple(cells), reps, note=f"C = {WIDE}")


def speedup_group(n: int, reps: int) -> Group:
    name = f"speedup-{short(n)}"
    cells = [floor(n, name, master=PINNED), *speedup_cases(n, PINNED)]
    return Group(name, tuple(cells), reps, note=f"{PINNED} (local[2]: the scan group)")


def embed_group(n: int, reps: int, *, arrow: bool, exact: bool) -> Group:
    name = f"embed-{short(n)}"
    cells = [floor(n, name), *embedding_jobs(n, "off")]
    cells += embedding_jobs(n, "auto") if arrow else []
    once: list[Cell] = []
    if exact:
        cells += [Cell(BASELINE, n, strategy=s.value) for s in EMBEDDING]
        once = [Cell(QUALITY, n, strategy=s.value) for s in EMBEDDING]
    return Group(name, tuple(cells), reps, tuple(once), note="diversity, badge")


def committee_group(n: int, reps: int) -> Group:
    name = f"committee-{short(n)}"
    cells = [floor(n, name, members=MEMBERS), *committee_cases(n)]
    return Group(name, tuple(cells), reps, note=f"committee modes, M = {MEMBERS}")


def cluster_group(sizes: Sizes, reps: int) -> Group:
    """cluster_margin at BATCH_SIZE 10^5 timed against a floor on the same input; once each,
    for the memory rows, the same BATCH_SIZE at the smaller size and the default BATCH_SIZE."""
    lo, n = sizes.cluster
    name = f"cluster-{short(n)}"
    cells = (floor(n, name), cluster_case(n, sizes.big_batch))
    once = (cluster_case(lo, sizes.big_batch), cluster_case(n))
    return Group(name, cells, reps, once, note=f"cluster_margin, BATCH_SIZE {sizes.big_batch:,}")


def memory_group(n: int) -> Group:
    name = f"embed-{short(n)}"
    cells = [floor(n, name), *embedding_jobs(n, "off")]
    return Group(name, tuple(cells), 1, note="memory only: one run")


def numpy_group(n: int) -> Group:
    cells = [Cell(BASELINE, n, strategy=FLOOR)]
    cells += [
        Cell(BASELINE, n, strategy=Strategy.UNCERTAINTY.value, mode=UncertaintyMode.MARGIN.value),
        Cell(BASELINE, n, strategy=Strategy.CONFIDENCE_THRESHOLD.value, capped=True),
        Cell(BASELINE, n, strategy=Strategy.TOP_K_PER_CLASS.value),
    ]
    return Group(f"numpy-{short(n)}", tuple(cells), 1, default=False, note="single-node scans")


def build(sizes: Sizes, *, arrow: bool, reps: int = REPS) -> list[Group]:
    """Every group of a profile, in the order a budget-limited session meets them.

    The order packs four sessions of `--budget-minutes 45` on two quiet cores: the smaller scans
    with the local[1] rows (which reuse the local[2] runs of the speed-up size) and the small
    inputs, then the largest scan with the many-class rows, then diversity and badge, then
    issue 14's committee and cluster_margin groups (about 18 minutes at target speed).
    """
    groups = [scan_group(n, reps) for n in sizes.scan[:-1]]
    groups += [speedup_group(sizes.speedup, reps), small_group(sizes.small, reps)]
    groups += [scan_group(sizes.scan[-1], reps), wide_group(sizes.wide, reps)]
    groups += [embed_group(n, reps, arrow=arrow, exact=n == sizes.exact) for n in sizes.embed]
    groups += [committee_group(n, reps) for n in sizes.committee]
    groups.append(cluster_group(sizes, reps))
    return [*groups, memory_group(sizes.memory), numpy_group(sizes.exact)]


def check_unique(groups: list[Group]) -> None:
    """A cell belongs to one group: the report finds each row's floor through its group."""
    seen: dict[str, str] = {}
    for g in groups:
        for c in (*g.cells, *g.once):
            if seen.setdefault(c.key, g.name) != g.name:
                raise ValueError(f"cell {c.key!r} is in groups {seen[c.key]} and {g.name}")


def source_job(cell: Cell) -> Cell:
    """The job whose output a quality cell scores: the required (no-pyarrow) path."""
    return job(Strategy(cell.strategy), cell.n, classes=cell.classes, arrow="off")


def job_type(strategy: str) -> str:
    return JOB_TYPES[0] if Strategy(strategy) in SSL_STRATEGIES else JOB_TYPES[1]
