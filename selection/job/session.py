"""The SparkSession the job runs on: the one spark-submit configured, or a local one."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from pyspark.sql import SparkSession

# HotSpot does not compile a method of more than 8,000 bytes of bytecode (its HugeMethodLimit),
# and Spark's default limit (65,535) lets one whole-stage method grow past that and run
# interpreted. A committee input's scores and data checks cost 3 to 4 times the CPU that way
# (1M rows, M = 5: bald 33.5 s against 9.2 s of executor CPU). At 8,000 Spark splits such a
# stage operator by operator, and the JIT compiles the pieces. C = 10 and C = 1000 inputs run
# the same either way.
JOB_SQL_CONF: Mapping[str, str] = {"spark.sql.codegen.hugeMethodLimit": "8000"}


def launched_by_spark_submit() -> bool:
    # spark-submit starts the JVM first and hands the Python driver its gateway port.
    return "PYSPARK_GATEWAY_PORT" in os.environ


def get_session(master: str | None = None, log_level: str = "WARN") -> SparkSession:
    """Reuse spark-submit's configuration, or start `master` (default local[*]) on loopback."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName("active-sample-selection")
    if master or not launched_by_spark_submit():
        # The web UI and block manager bind to SPARK_LOCAL_IP, not to the driver's bind address.
        host = os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder = (
            builder.master(master or "local[*]")
            .config("spark.driver.bindAddress", host)
            .config("spark.driver.host", host)
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.session.timeZone", "UTC")
        )
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel(log_level)
    return session


@contextmanager
def job_sql_conf(session: SparkSession) -> Iterator[None]:
    """JOB_SQL_CONF for the length of a run on any session, the caller's values restored after."""
    before: dict[str, str | None] = {key: session.conf.get(key, None) for key in JOB_SQL_CONF}
    for key, value in JOB_SQL_CONF.items():
        session.conf.set(key, value)
    try:
        yield
    finally:
        for key, previous in before.items():
            if previous is None:
                session.conf.unset(key)
            else:
                session.conf.set(key, previous)
