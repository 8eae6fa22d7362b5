from dataclasses import replace
from pathlib import Path

import pytest

from bench import estimate, execute, plan, targets
from bench.results import Results
from selection.job.config import ENV_VARS_BY_NAME
from selection.names import COMMITTEE_MODES, DEFAULT_MEMBER_PREFIX, Strategy, UncertaintyMode


@pytest.mark.parametrize("sizes", [plan.FULL, plan.QUICK])
@pytest.mark.parametrize("arrow", [True, False])
def test_every_cell_belongs_to_one_group(sizes, arrow):
    plan.check_unique(plan.build(sizes, arrow=arrow))


def test_the_scan_groups_hold_every_mode_and_both_id_settings_at_each_size():
    groups = {g.name: g for g in plan.build(plan.FULL, arrow=True)}
    for n in (1_000_000, 5_000_000, 20_000_000):
        jobs = [c for c in groups[f"scan-{plan.short(n)}"].cells if c.kind == plan.JOB]
        modes = {c.mode for c in jobs if c.strategy == Strategy.UNCERTAINTY}
        assert modes == {m.value for m in UncertaintyMode if m not in COMMITTEE_MODES}
        assert sum(1 for c in jobs if not c.ids) == 7 and sum(1 for c in jobs if c.ids) == 6
        assert {c.ids for c in jobs if c.strategy == Strategy.RANDOM} == {False, True}
        assert not any(c.members for c in groups[f"scan-{plan.short(n)}"].cells)
        assert {c.n for c in jobs} == {n}
        assert groups[f"scan-{plan.short(n)}"].reps == 3


def test_every_target_row_names_a_planned_group():
    rows = targets.all_rows(Results(), plan.FULL)
    assert rows and all(r.group for r in rows)
    assert all(r.verdict == "not measured" for r in rows)
    groups = {g.name for g in plan.build(plan.FULL, arrow=True) if g.default}
    assert {r.group for r in rows} <= groups


def test_the_local1_rows_have_their_local2_partners_in_the_scan_group():
    groups = {g.name: g for g in plan.build(plan.FULL, arrow=False)}
    scan = {c.key for c in groups["scan-5m"].cells}
    for cell in groups["speedup-5m"].cells[1:]:
        assert replace(cell, master=plan.MASTER).key in scan


def test_job_variables_are_the_contracts_names_and_the_arrow_switch():
    for g in plan.build(plan.FULL, arrow=True):
        for cell in g.cells:
            if cell.kind == plan.JOB:
                env = execute.job_env(cell)
                assert set(env) - {execute.ARROW_VAR} <= set(ENV_VARS_BY_NAME)
                assert env[execute.ARROW_VAR] in ("off", "auto")
    capped = execute.job_env(plan.job(Strategy.CONFIDENCE_THRESHOLD, 10, capped=True))
    assert capped["MAX_SAMPLES"] == str(plan.MAX_SAMPLES)
    assert execute.job_env(plan.uncapped(10))["MAX_SAMPLES"] == "0"
    assert execute.job_env(plan.uncapped(10))["CHECK_UNIQUE_IDS"] == "false"


def test_commands_pin_local1_and_score_the_no_pyarrow_output(tmp_path):
    n = 1_000_000
    ctx = execute.Context({(n, plan.CLASSES, 0): Path("/data")}, tmp_path, 60.0)
    pinned = execute.command(plan.job(Strategy.UNCERTAINTY, n, master=plan.PINNED), ctx)
    assert pinned[:3] == ["taskset", "-c", "0"] and "local[1]" in pinned
    quality = execute.command(plan.Cell(plan.QUALITY, n, strategy="diversity"), ctx)
    source = ctx.out_dir(plan.job(Strategy.DIVERSITY, n, arrow="off")) / "selected"
    assert str(source) in quality and "--compare-only" in quality
    env = execute.environment(plan.floor(n, "scan-1m"), tmp_path)
    assert "--driver-memory 1g" in env["PYSPARK_SUBMIT_ARGS"]
    assert "spark.eventLog.enabled=true" in env["PYSPARK_SUBMIT_ARGS"]


def sessions_needed(budget_minutes: float) -> int:
    """How many `--budget-minutes` sessions the default plan takes, by the model's estimates."""
    left = [g for g in plan.build(plan.FULL, arrow=True) if g.default]
    count = 0
    while left:
        count += 1
        used, rest = 0.0, []
        for g in left:
            need = estimate.group_seconds(g, None) / 60
            if used + need <= budget_minutes:
                used += need
            else:
                rest.append(g)
        if len(rest) == len(left):
            raise AssertionError(f"{rest[0].name} does not fit {budget_minutes} minutes")
        left = rest
    return count


def test_four_sessions_of_45_minutes_cover_the_plan_at_target_speed():
    # Three until issue 14's groups and random's scan rows (about 27 minutes at target speed).
    assert sessions_needed(45) == 4


def test_the_committee_groups_read_a_members_input_and_their_floor_reads_it_too(tmp_path):
    groups = {g.name: g for g in plan.build(plan.FULL, arrow=True)}
    for n in (1_000_000, 5_000_000):
        g = groups[f"committee-{plan.short(n)}"]
        assert g.inputs == [(n, plan.CLASSES, plan.MEMBERS)] and g.default
        assert g.cells[0].kind == plan.FLOOR
        jobs = [c for c in g.cells if c.kind == plan.JOB]
        modes = {c.mode for c in jobs if c.strategy == Strategy.UNCERTAINTY}
        assert modes == {m.value for m in COMMITTEE_MODES}
        (agree,) = [c for c in jobs if c.strategy == Strategy.CONFIDENCE_THRESHOLD]
        env = execute.job_env(agree)
        assert env["REQUIRE_AGREEMENT"] == "true" and env["MAX_SAMPLES"] == str(plan.MAX_SAMPLES)
        assert env["MEMBER_FIELD_PREFIX"] == DEFAULT_MEMBER_PREFIX
        assert agree.label == "confidence_threshold (capped, agreement)"
        assert all(not c.ids for c in jobs)
    spec = execute.spec(1_000_000, plan.CLASSES, plan.MEMBERS)
    assert spec.members == plan.MEMBERS and spec.name.endswith(f"_m{plan.MEMBERS}")
    assert execute.spec(1_000_000, plan.CLASSES).name == "pred_n1000000_f16_c10_p4_s0"
    n = 1_000_000
    paths = {(n, plan.CLASSES, 0): Path("/plain"), (n, plan.CLASSES, plan.MEMBERS): Path("/m")}
    ctx = execute.Context(paths, tmp_path, 60.0)
    for cell in groups["committee-1m"].cells:
        assert "/m" in execute.command(cell, ctx)


def test_the_cluster_group_times_the_large_batch_against_a_floor_on_the_same_files():
    g = next(g for g in plan.build(plan.FULL, arrow=True) if g.name == "cluster-5m")
    floor, timed = g.cells
    assert floor.kind == plan.FLOOR and floor.input == timed.input == (5_000_000, 10, 0)
    assert execute.job_env(timed)["BATCH_SIZE"] == "100000"
    assert timed.label == "cluster_margin (BATCH_SIZE 100,000)"
    small, default = g.once
    assert small.n == 1_000_000 and small.batch == 100_000
    assert default.n == 5_000_000 and execute.job_env(default)["BATCH_SIZE"] == "1000"
    assert estimate.group_seconds(g, None) / 60 < 10
