import json

import pytest

from bench import plan
from bench.results import INCOMPLETE, Results
from selection.names import Strategy
from tests.bench.helpers import add, session

CELL = plan.job(Strategy.UNCERTAINTY, 1_000_000, ids=False)
FLOOR = plan.floor(1_000_000, "scan-1m")


def test_the_latest_complete_session_wins_over_an_older_one():
    results = Results()
    add(results, session(results, "old"), CELL, [10.0, 11.0, 12.0])
    add(results, session(results, "new"), CELL, [20.0, 21.0, 22.0])
    picked = results.pick(CELL.key)
    assert picked.commit == "new"
    assert picked.median("wall_seconds") == 21.0


def test_a_session_stopped_by_the_budget_does_not_replace_a_complete_one():
    results = Results()
    add(results, session(results, "old"), CELL, [10.0, 11.0, 12.0])
    add(results, session(results, "new", groups={"scan-1m": INCOMPLETE}), CELL, [30.0])
    assert results.pick(CELL.key).commit == "old"


def test_an_incomplete_session_is_used_when_there_is_nothing_else():
    results = Results()
    add(results, session(results, "only", groups={"scan-1m": INCOMPLETE}), CELL, [30.0])
    picked = results.pick(CELL.key)
    assert picked.commit == "only" and not picked.complete


def test_a_newer_failure_is_not_hidden_by_an_older_success():
    results = Results()
    add(results, session(results, "old"), CELL, [10.0, 11.0, 12.0])
    add(results, session(results, "new"), CELL, [40.0, 40.0, 40.0], ok=False)
    picked = results.pick(CELL.key)
    assert picked.commit == "new"
    assert picked.ok == [] and len(picked.failed) == 3


def test_save_drops_superseded_runs_and_keeps_rows_of_other_groups(tmp_path):
    results = Results()
    first = session(results, "old")
    other = plan.job(Strategy.DIVERSITY, 1_000_000)
    add(results, first, CELL, [10.0, 11.0, 12.0])
    add(results, first, other, [50.0, 51.0, 52.0])
    add(results, session(results, "new"), CELL, [20.0, 21.0, 22.0])
    path = tmp_path / "results.json"
    results.save(path)
    again = Results.load(path)
    assert sorted(r["wall_seconds"] for r in again.runs if r["cell"] == CELL.key) == [20, 21, 22]
    assert again.pick(other.key).commit == "old"
    assert [s["commit"] for s in again.sessions] == ["old", "new"]
    assert again.commits() == ["old", "new"]


def test_measured_at_needs_the_same_commit_a_clean_tree_and_every_run():
    results = Results()
    s = session(results, "abc")
    add(results, s, CELL, [10.0, 11.0, 12.0])
    add(results, s, FLOOR, [9.0, 9.0, 9.0])
    keys = [CELL.key, FLOOR.key]
    assert results.measured_at(keys, "scan-1m", "abc", 3)
    assert not results.measured_at(keys, "scan-1m", "def", 3)
    assert not results.measured_at(keys, "scan-1m", "abc", 4)
    dirty = Results()
    add(dirty, session(dirty, "abc", dirty=True), CELL, [10.0, 11.0, 12.0])
    assert not dirty.measured_at([CELL.key], "scan-1m", "abc", 3)


def test_a_results_file_of_the_old_format_is_refused_with_what_to_do(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"runs": [], "args": {}}))
    with pytest.raises(ValueError, match="archive"):
        Results.load(path)


def test_a_missing_file_is_an_empty_store(tmp_path):
    results = Results.load(tmp_path / "none.json")
    assert results.runs == [] and results.latest is None


def test_a_session_still_running_keeps_its_runs_through_a_save(tmp_path):
    results = Results()
    add(results, session(results, "abc"), CELL, [10.0, 11.0, 12.0])
    add(results, session(results, "abc", groups={"scan-1m": INCOMPLETE}), CELL, [30.0])
    path = tmp_path / "results.json"
    results.save(path)
    assert sorted(r["wall_seconds"] for r in Results.load(path).runs) == [10, 11, 12, 30]
    assert results.pick(CELL.key).median("wall_seconds") == 11.0
