from pyspark.sql import Observation, SparkSession
from pyspark.sql import functions as F

from selection.engine.observed import counted_once, observe_once, observed_once, observed_twice


def test_a_clean_run_reports_its_metrics_and_keeps_the_columns(spark: SparkSession) -> None:
    # 5 partitions, the middle ones emptied by the filter: the witness sees only partitions
    # that reached the observation.
    df = spark.range(0, 50, numPartitions=5).filter((F.col("id") < 10) | (F.col("id") >= 40))
    observation = Observation("clean")
    observed = observe_once(df, observation, F.count(F.lit(1)).alias("rows"))
    assert observed.columns == ["id"]
    assert observed.count() == 20
    assert observed_once(observation) == {"rows": 20}
    assert not observed_twice(observation)


def test_a_partition_seen_twice_makes_the_metrics_unusable() -> None:
    witness = {"__selection_partition_starts": 3, "__selection_partitions": 2}
    assert counted_once({"rows": 36, **witness}) is None
    once = {"__selection_partition_starts": 2, "__selection_partitions": 2}
    assert counted_once({"rows": 24, **once}) == {"rows": 24}
    assert counted_once({}) is None
