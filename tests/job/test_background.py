import time

import pytest
from pyspark.sql import SparkSession

from selection.job.background import in_background


def test_the_result_comes_from_spark_jobs_in_a_group_of_their_own(spark: SparkSession) -> None:
    groups: list[str | None] = []

    def count() -> int:
        groups.append(spark.sparkContext.getLocalProperty("spark.jobGroup.id"))
        return spark.range(1000).count()

    with in_background(spark, "counting", count) as task:
        assert task.result() == 1000
    assert groups[0] is not None and groups[0].startswith("counting-")
    # the caller's thread keeps its own group
    assert spark.sparkContext.getLocalProperty("spark.jobGroup.id") != groups[0]


def test_an_error_reaches_the_caller(spark: SparkSession) -> None:
    def fail() -> int:
        raise ValueError("no such column")

    with in_background(spark, "failing", fail) as task, pytest.raises(ValueError, match="column"):
        task.result()


def test_leaving_the_block_early_cancels_the_jobs(spark: SparkSession) -> None:
    def slow() -> int:
        # Python tasks that sleep: half a minute of work, cancelled long before it ends
        return spark.range(0, 12, numPartitions=2).rdd.map(lambda x: time.sleep(5) or x).count()

    tracker = spark.sparkContext.statusTracker()
    with pytest.raises(RuntimeError), in_background(spark, "slow", slow) as task:
        deadline = time.monotonic() + 60
        while not tracker.getJobIdsForGroup(task.group) and time.monotonic() < deadline:
            time.sleep(0.05)
        raise RuntimeError("the selection failed")
    began = time.monotonic()
    with pytest.raises(Exception, match="cancel"):
        task.result()
    assert time.monotonic() - began < 20
