"""A check that runs beside the selection, on the cores the selection leaves idle.

The selection's own scan keeps every core busy only while its tasks run: the driver plans and
compiles each query, one-task stages (the final merge of a top-n) and the write leave cores
idle. A Spark job submitted from a second thread fills those gaps (Spark schedules jobs from
several threads on one session), so a check that needs a pass of its own costs less wall time
than when it runs after the selection.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from pyspark.sql import SparkSession

T = TypeVar("T")
_groups = itertools.count()


@dataclass
class Background(Generic[T]):
    """The result of `compute`, run in a thread and Spark job group of its own."""

    spark: SparkSession
    group: str
    compute: Callable[[], T]
    _done: threading.Event = field(default_factory=threading.Event)
    _value: list[T] = field(default_factory=list)
    _error: list[BaseException] = field(default_factory=list)

    def start(self) -> None:
        threading.Thread(target=self._run, name=self.group, daemon=True).start()

    def _run(self) -> None:
        try:
            # Thread-local: the main thread's jobs keep their own group.
            self.spark.sparkContext.setJobGroup(self.group, self.group, interruptOnCancel=True)
            self._value.append(self.compute())
        except BaseException as exc:  # handed to the caller of result()
            self._error.append(exc)
        finally:
            self._done.set()

    def result(self) -> T:
        """Wait for the computation; raise what it raised."""
        self._done.wait()
        if self._error:
            raise self._error[0]
        return self._value[0]

    def cancel(self) -> None:
        """Cancel the group's jobs, without waiting for them to stop."""
        if self._done.is_set():
            return
        sc = self.spark.sparkContext
        sc.cancelJobGroup(self.group)

        # A job submitted just after the call would escape it: call it once more, later.
        def once_more() -> None:
            if not self._done.is_set():
                sc.cancelJobGroup(self.group)

        again = threading.Timer(1.0, once_more)
        again.daemon = True
        again.start()


@contextmanager
def in_background(
    spark: SparkSession, name: str, compute: Callable[[], T]
) -> Iterator[Background[T]]:
    """Start `compute` now; when the block is left before it finished (the run failed), its
    Spark jobs are cancelled."""
    task = Background(spark, f"{name}-{next(_groups)}", compute)
    task.start()
    try:
        yield task
    finally:
        task.cancel()
