"""Observed metrics (`DataFrame.observe`) that cannot count a row twice unnoticed.

Observed metrics are accumulators updated by the tasks that compute the observed plan. When a
task's output is lost after it succeeded (its executor died holding shuffle files or cached
blocks), Spark computes that partition again and its rows are added a second time. The scheduler
does not always say so: a lost cached block is recomputed inside a later job's tasks, with no
failed task and no new stage attempt. So every observation carries its own witness: the number
of partition starts it saw and the number of distinct partitions they came from. They differ
exactly when some partition was observed more than once, and then the caller counts again with
an action of its own, whose result Spark does not double.
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import Column, DataFrame, Observation
from pyspark.sql import functions as F

# monotonically_increasing_id() is (partition index << 33) + the row's place in the partition.
_PLACE_BITS = 33
_ROW_MARK = "__selection_observed_row"
_STARTS = "__selection_partition_starts"
_PARTITIONS = "__selection_partitions"


def observe_once(df: DataFrame, observation: Observation, *metrics: Column) -> DataFrame:
    """`df.observe(observation, *metrics)`, with the witness that `observed_once` reads."""
    # Observed metrics may not be nondeterministic, so the partition of each partition's first
    # row is a column of its own (null on every other row), computed in the scan's projection
    # just below the observation and dropped above it: the observation only counts it.
    row = F.monotonically_increasing_id()
    first = row.bitwiseAND(F.lit((1 << _PLACE_BITS) - 1)) == 0
    marked = df.withColumn(_ROW_MARK, F.when(first, F.shiftright(row, _PLACE_BITS)))
    mark = F.col(_ROW_MARK)
    witness = [
        F.count(mark).alias(_STARTS),
        F.size(F.collect_set(mark)).alias(_PARTITIONS),
    ]
    return marked.observe(observation, *metrics, *witness).drop(_ROW_MARK)


def observed_once(observation: Observation) -> dict[str, Any] | None:
    """The metrics of the first action on the observed plan, or None when they cannot be used:
    Spark reported none (it does not for some cached plans whose later filter kept no row), or
    some partition was observed more than once."""
    return counted_once(dict(observation.get))


def observed_twice(observation: Observation) -> bool:
    """Whether some partition added its rows to `observation` more than once."""
    got = dict(observation.get)
    return bool(got) and counted_once(got) is None


def counted_once(metrics: dict[str, Any]) -> dict[str, Any] | None:
    """`metrics` without the witness, or None when it is empty or shows a partition twice."""
    if not metrics:
        return None
    got = dict(metrics)
    if got.pop(_STARTS) != got.pop(_PARTITIONS):
        return None
    return got
