from bench import plan, targets
from bench.plan import Cell
from bench.results import Results
from selection.names import Strategy
from tests.bench.helpers import add, session

N = 1_000_000
X = targets.X


def row(rows, start):
    return next(r for r in rows if r.target.startswith(start) and r.rows == f"{N:,}")


def test_a_scan_row_is_its_median_over_the_interleaved_floor():
    results = Results()
    s = session(results)
    add(results, s, plan.floor(N, "scan-1m"), [10.0, 10.0, 30.0])
    add(results, s, plan.job(Strategy.UNCERTAINTY, N, ids=False), [12.0, 13.0, 99.0])
    add(results, s, plan.job(Strategy.UNCERTAINTY, N, ids=True), [15.1, 15.1, 15.1])
    rows = targets.all_rows(results, plan.FULL)
    met = row(rows, "uncertainty (margin), CHECK_UNIQUE_IDS=false")
    assert (met.measured, met.verdict, met.runs) == (f"1.30{X}", "**met**", "3/3")
    missed = row(rows, "uncertainty (margin), CHECK_UNIQUE_IDS=true")
    assert (missed.measured, missed.verdict) == (f"1.51{X}", "**missed**")


def test_too_few_runs_and_a_shared_machine_are_marked():
    results = Results()
    s = session(results)
    add(results, s, plan.floor(N, "scan-1m"), [10.0, 10.0, 10.0])
    add(results, s, plan.job(Strategy.TOP_K_PER_CLASS, N, ids=False), [11.0], others=0.4)
    r = row(targets.all_rows(results, plan.FULL), "top_k_per_class, CHECK_UNIQUE_IDS=false")
    assert r.verdict == "**met** (too few runs)"
    assert r.measured.endswith("‡") and r.runs == "1/3"


def test_a_row_that_only_failed_is_missed():
    results = Results()
    s = session(results)
    add(results, s, plan.floor(N, "scan-1m"), [10.0, 10.0, 10.0])
    add(results, s, plan.uncapped(N), [50.0], ok=False)
    r = row(targets.all_rows(results, plan.FULL), "confidence_threshold (uncapped)")
    assert (r.measured, r.verdict) == ("failed (see Failures)", "**missed**")


def test_uncapped_is_held_to_the_write_floor():
    results = Results()
    s = session(results)
    add(results, s, plan.floor(N, "scan-1m"), [5.0] * 3)
    add(results, s, Cell(plan.WRITE_FLOOR, N, group="scan-1m"), [20.0] * 3)
    add(results, s, plan.uncapped(N), [25.0] * 3)
    r = row(targets.all_rows(results, plan.FULL), "confidence_threshold (uncapped)")
    assert (r.measured, r.verdict) == (f"1.25{X}", "**met**")


def test_rows_measured_at_different_commits_say_so():
    results = Results()
    old, new = session(results, "old1111"), session(results, "new2222")
    add(results, old, plan.floor(N, "scan-1m"), [10.0] * 3)
    add(results, old, plan.job(Strategy.UNCERTAINTY, N, ids=False), [12.0] * 3)
    add(results, new, plan.floor(N, "embed-1m"), [10.0] * 3)
    add(results, new, plan.job(Strategy.DIVERSITY, N), [25.0] * 3)
    rows = targets.all_rows(results, plan.FULL)
    assert row(rows, "uncertainty (margin), CHECK_UNIQUE_IDS=false").commit == "old1111"
    div = row(rows, "diversity without pyarrow")
    assert (div.commit, div.measured, div.verdict) == ("new2222", f"2.50{X}", "**met**")


def test_memory_speedup_quality_and_exact_rows():
    results = Results()
    s = session(results)
    for n, peak in ((N, 1000.0), (20_000_000, 1400.0)):
        add(results, s, plan.job(Strategy.BADGE, n), [60.0] * 3, peak=peak)
    add(results, s, plan.job(Strategy.TOP_K_PER_CLASS, 5_000_000, master=plan.PINNED), [34.0] * 3)
    add(results, s, plan.job(Strategy.TOP_K_PER_CLASS, 5_000_000), [20.0] * 3)
    add(results, s, Cell(plan.BASELINE, N, strategy="badge"), [40.0] * 3,
        facts={"kmeans_cost": 100.0})  # fmt: skip
    add(results, s, Cell(plan.QUALITY, N, strategy="badge"), [9.0],
        facts={"job_kmeans_cost": 110.0})  # fmt: skip
    rows = targets.all_rows(results, plan.FULL)
    mem = next(r for r in rows if r.target.startswith("peak memory flat, badge"))
    assert (mem.measured, mem.verdict) == (f"1,000 → 1,400 MB (1.40{X})", "**missed**")
    speed = next(r for r in rows if "local[2], top_k_per_class" in r.target)
    assert (speed.measured, speed.verdict) == (f"1.70{X}", "**met**")
    quality = next(r for r in rows if r.target.startswith("badge: k-means cost"))
    assert quality.verdict == "**met**" and quality.measured.startswith("1.100")
    exact = next(r for r in rows if r.target.startswith("badge faster than"))
    assert exact.verdict == "**missed**" and "job 60.0 s, numpy 40.0 s" in exact.measured


def test_the_per_row_cost_at_many_classes_is_a_slope_between_two_sizes():
    results = Results()
    s = session(results)
    narrow = plan.job(Strategy.UNCERTAINTY, N)
    add(results, s, narrow, [20.0] * 3)  # 1M rows at C = 10
    add(results, s, plan.job(Strategy.UNCERTAINTY, 10_000), [10.1] * 3)
    wide = plan.wide_cases(100_000)[0]
    add(results, s, wide, [19.0] * 3)
    add(results, s, plan.wide_cases(10_000)[0], [10.0] * 3)
    rows = targets.all_rows(results, plan.FULL)
    r = next(r for r in rows if "per-row cost" in r.target and r.target.startswith("uncertainty"))
    # C = 10: 9.9 s over 990,000 rows = 10 µs/row; C = 1000: 9 s over 90,000 rows = 100 µs/row
    assert r.measured.startswith(f"10.0{X}") and r.verdict == "**met**"


def test_committee_rows_are_held_to_their_own_floor_and_flat_memory():
    results = Results()
    s = session(results)
    big = 5_000_000
    add(results, s, plan.floor(N, "committee-1m", members=plan.MEMBERS), [20.0] * 3)
    bald = plan.committee_cases(N)[0]
    add(results, s, bald, [25.0] * 3, peak=1000.0)
    add(results, s, plan.job(Strategy.UNCERTAINTY, big, mode="bald", ids=False,
                             members=plan.MEMBERS), [90.0] * 3, peak=1300.0)  # fmt: skip
    rows = targets.all_rows(results, plan.FULL)
    r = row(rows, "uncertainty (bald), M = 5, CHECK_UNIQUE_IDS=false")
    assert (r.measured, r.verdict, r.group) == (f"1.25{X}", "**met**", "committee-1m")
    mem = next(r for r in rows if r.target.startswith("peak memory flat, uncertainty (bald)"))
    assert mem.verdict == "**missed**" and mem.measured.endswith(f"(1.30{X})")


def test_cluster_margin_rows_time_the_large_batch_and_its_memory_in_n_and_batch_size():
    results = Results()
    s = session(results)
    big = 5_000_000
    add(results, s, plan.floor(big, "cluster-5m"), [20.0] * 3)
    timed = plan.cluster_case(big, 100_000)
    add(results, s, timed, [62.0] * 3, peak=1200.0)
    add(results, s, plan.cluster_case(N, 100_000), [30.0], peak=1100.0)
    add(results, s, plan.cluster_case(big), [40.0], peak=1000.0)
    rows = targets.all_rows(results, plan.FULL)
    ratio = next(r for r in rows if r.target.startswith("cluster_margin (BATCH_SIZE 100,000): "))
    assert (ratio.measured, ratio.verdict) == (f"3.10{X}", "**missed**")
    in_n = next(r for r in rows if r.target.startswith("peak memory flat in n, cluster"))
    assert in_n.verdict == "**met**" and in_n.measured.endswith(f"(1.09{X})")
    in_b = next(r for r in rows if r.target.startswith("peak memory flat in BATCH_SIZE"))
    assert in_b.verdict == "**met**" and in_b.measured.endswith(f"(1.20{X})")
