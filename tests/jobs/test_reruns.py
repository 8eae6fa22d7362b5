"""Re-runs: the same input and RANDOM_SEED give byte-identical selected ids and ranks.

Every strategy is run on the same rows several times: twice on the same layout, then with the
rows spread over another number of input part files, with input files split into many small
partitions (`spark.sql.files.maxPartitionBytes`), and with other `spark.sql.shuffle.partitions`.
The rows contain exact ties, which only the ascending-id rule can order.

What is promised, and where it cannot be:

- confidence_threshold, top_k_per_class, uncertainty: no randomness at all. Each row's score is
  a per-row expression, so it does not depend on which partition the row sits in, and every
  ordering is total (score desc, id asc; ids are unique). So the selection is identical for any
  layout, including the ranking in ordered ranges of more than HISTOGRAM_RANK_MIN rows.
- badge: k-means|| draws its D^2-weighted samples from a seeded hash of each id (not from
  `rand(seed)`, whose stream depends on the partition a row lands in) and keeps the globally best
  candidates, so it is layout invariant too, and asserted to be.
- diversity: the two-round k-center core-set runs farthest-first inside each of P hash
  partitions (a seeded hash of the id decides where a row goes), then again over the
  candidates, so the picks depend on P. selection/strategies/diversity.py derives P from the
  size of the input, not from how it is split or from the cluster's cores, so it is layout
  invariant, and asserted to be. (When P came from the number of input partitions, an input
  cut into more splits selected another, equally certified, set; this test caught it.) The same rows
  re-encoded (another format or compression) can change the size enough to change P.
- Any strategy whose `layout_invariant` is False is held to same-layout determinism only.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from jobs.active_sample_selection import main
from tests.helpers import write_csv_parts
from tests.reliability import (
    StrategyRun,
    ids_and_ranks,
    reliability_rows,
    selected_table,
    strategy_params,
)

ROWS = reliability_rows(240, seed=11)
SEED = "20240611"


@pytest.fixture
def layout(spark: SparkSession) -> Iterator[None]:
    """Restore the session's partitioning settings after a test changed them."""
    keys = ("spark.sql.shuffle.partitions", "spark.sql.files.maxPartitionBytes")
    saved = {k: spark.conf.get(k) for k in keys}
    yield
    for key, value in saved.items():
        if value is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, value)


def _run(
    spark: SparkSession,
    tmp_path: Path,
    run: StrategyRun,
    tag: str,
    *,
    files: int,
    shuffle_partitions: int,
    max_partition_bytes: str = "128MB",
) -> tuple[bytes, list[tuple[str, ...]]]:
    """Run `run` on ROWS written as `files` part files; (ids and ranks, selected rows)."""
    spark.conf.set("spark.sql.shuffle.partitions", str(shuffle_partitions))
    spark.conf.set("spark.sql.files.maxPartitionBytes", max_partition_bytes)
    source = tmp_path / f"in-{files}"
    if not source.exists():
        write_csv_parts(source, ROWS, parts=files)
    out, meta = tmp_path / tag / "out", tmp_path / tag / "meta"
    argv = ["--input", str(source), "--output", str(out), "--metadata-output", str(meta)]
    code = main(argv, {**run.env, "RANDOM_SEED": SEED}, spark)
    assert code == 0, f"{run.name} failed on {tag}"
    return ids_and_ranks(out), selected_table(out)


@pytest.mark.parametrize("run", strategy_params())
def test_same_input_and_seed_select_identically(
    spark: SparkSession, tmp_path: Path, layout: None, run: StrategyRun
) -> None:
    baseline_ids, baseline_rows = _run(spark, tmp_path, run, "first", files=1, shuffle_partitions=4)
    assert len(baseline_rows) > 10, "the selection is too small to say anything"
    # same input, same layout, same seed: byte-identical ids and ranks, identical rows
    again_ids, again_rows = _run(spark, tmp_path, run, "again", files=1, shuffle_partitions=4)
    assert again_ids == baseline_ids
    assert again_rows == baseline_rows
    if not run.layout_invariant:
        return
    differ = []
    # (part files, shuffle partitions, max bytes per input split: 4k cuts one file into many)
    for files, partitions, split in ((5, 1, "128MB"), (1, 13, "4k")):
        tag = f"files{files}-sp{partitions}-split{split}"
        ids, rows = _run(spark, tmp_path, run, tag, files=files, shuffle_partitions=partitions,
                         max_partition_bytes=split)  # fmt: skip
        if (ids, rows) != (baseline_ids, baseline_rows):
            differ.append(tag)
    if run.layout_issue:
        assert differ, f"{run.name} is layout invariant now: drop its layout_issue"
        pytest.xfail(f"differs with {', '.join(differ)}: {run.layout_issue}")
    assert not differ, f"{run.name}: selected ids, ranks or rows differ with {', '.join(differ)}"


@pytest.mark.parametrize("run", strategy_params("confidence_threshold", "cluster_margin"))
def test_distributed_ranking_matches_one_task_ranking(
    spark: SparkSession,
    tmp_path: Path,
    layout: None,
    run: StrategyRun,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Above HISTOGRAM_RANK_MIN kept rows (and cluster_margin's candidates past
    HEAP_TOP_N_LIMIT) the ranks come from ranges sorted in many tasks; they must equal the
    one-task ranks whatever the number of shuffle partitions and ranges."""
    one_task_ids, one_task_rows = _run(spark, tmp_path, run, "one", files=2, shuffle_partitions=4)
    monkeypatch.setattr("selection.engine.ranking.HISTOGRAM_RANK_MIN", 5)
    monkeypatch.setattr("selection.engine.ranking.HEAP_TOP_N_LIMIT", 0)
    monkeypatch.setattr("selection.engine.ranking.RANGE_ROWS", 7)
    for partitions in (3, 11):
        tag = f"sorted{partitions}"
        ids, rows = _run(spark, tmp_path, run, tag, files=2, shuffle_partitions=partitions)
        assert ids == one_task_ids, f"range-sorted ranks differ with {partitions} partitions"
        assert rows == one_task_rows
