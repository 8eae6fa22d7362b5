"""A pyspark daemon whose first Python worker dies: the injected fault of the cluster tests.

Spark starts it instead of `pyspark.daemon` when `spark.python.daemon.module=crash_once_daemon`
and this directory is on the executors' PYTHONPATH (`spark.executorEnv.PYTHONPATH`). The first
worker it forks, across every executor of the application, claims the marker file named by
`CRASH_ONCE_MARKER` and exits at once with status 13, as a worker killed by the OOM killer or a
segfault would; every later worker runs the normal `pyspark.worker.main`. No engine code changes.
"""

from __future__ import annotations

import os
from typing import IO

import pyspark.daemon as daemon
from pyspark.worker import main as worker_main

CRASH_EXIT_STATUS = 13


def crash_once_then_work(infile: IO[bytes], outfile: IO[bytes]) -> None:
    marker = os.environ.get("CRASH_ONCE_MARKER")
    if marker:
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            pass
        else:
            os.write(fd, f"{os.getpid()}\n".encode())
            os.close(fd)
            os._exit(CRASH_EXIT_STATUS)
    worker_main(infile, outfile)


# pyspark.daemon calls the module-level name `worker_main` for every forked worker.
daemon.worker_main = crash_once_then_work

if __name__ == "__main__":
    daemon.manager()
