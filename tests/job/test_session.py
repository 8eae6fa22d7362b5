from __future__ import annotations

from pyspark.sql import SparkSession

from selection.job.session import JOB_SQL_CONF, job_sql_conf

KEY = "spark.sql.codegen.hugeMethodLimit"


def test_the_job_conf_holds_for_the_run_and_the_callers_value_comes_back(
    spark: SparkSession,
) -> None:
    spark.conf.set(KEY, "12345")
    try:
        with job_sql_conf(spark):
            assert spark.conf.get(KEY) == JOB_SQL_CONF[KEY]
        assert spark.conf.get(KEY) == "12345"
    finally:
        spark.conf.unset(KEY)


def test_a_conf_the_caller_had_not_set_is_unset_again_even_after_a_failure(
    spark: SparkSession,
) -> None:
    default = spark.conf.get(KEY)
    try:
        with job_sql_conf(spark):
            raise RuntimeError("the run failed")
    except RuntimeError:
        pass
    assert spark.conf.get(KEY) == default != JOB_SQL_CONF[KEY]
