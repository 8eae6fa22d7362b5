"""The SparkSession the job runs on: the one spark-submit configured, or a local one."""

from __future__ import annotations

import os
import sys

from pyspark.sql import SparkSession


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
