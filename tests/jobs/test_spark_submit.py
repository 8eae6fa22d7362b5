"""The job as the SageMaker image runs it: spark-submit, a separate JVM, and no pyarrow."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import output_is_absent, prediction_rows, read_metadata, write_csv_parts

REPO = Path(__file__).resolve().parents[2]
JOB = REPO / "jobs" / "active_sample_selection.py"

pytestmark = pytest.mark.e2e


def _spark_submit() -> str:
    found = Path(sys.executable).parent / "spark-submit"
    return str(found) if found.exists() else shutil.which("spark-submit") or "spark-submit"


@pytest.fixture(scope="module")
def no_arrow_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An environment in which `import pyarrow` fails, on the driver and on the workers."""
    blocker = tmp_path_factory.mktemp("no_pyarrow")
    (blocker / "pyarrow").mkdir()
    (blocker / "pyarrow" / "__init__.py").write_text(
        "raise ImportError('pyarrow is not installed in the SageMaker Spark image')\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(blocker), str(REPO)]),
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        "SPARK_LOCAL_IP": "127.0.0.1",
    }
    probe = subprocess.run(
        [sys.executable, "-c", "import pyarrow"], env=env, capture_output=True, text=True
    )
    assert probe.returncode != 0, "the pyarrow blocker did not take effect"
    return env


def _submit(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        _spark_submit(),
        "--master",
        "local[2]",
        "--conf",
        "spark.driver.bindAddress=127.0.0.1",
        "--conf",
        "spark.sql.shuffle.partitions=4",
        str(JOB),
        *args,
    ]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def _driver_output(done: subprocess.CompletedProcess[str]) -> str:
    # spark-submit's PythonRunner merges the Python driver's stderr into the JVM's stdout.
    return done.stdout + done.stderr


def test_spark_submit_without_pyarrow(tmp_path: Path, no_arrow_env: dict[str, str]) -> None:
    # One strategy: the pseudo-label strategies' plans never leave the JVM, and the staged
    # package's spark-submit test runs confidence_threshold.
    strategy = "uncertainty"
    rows = prediction_rows(200, classes=4, seed=3)
    source = write_csv_parts(tmp_path / "in", rows, parts=2)
    env = {
        **no_arrow_env,
        "SELECTION_STRATEGY": strategy,
        "BATCH_SIZE": "10",
    }
    done = _submit(
        env,
        "--job_type",
        "active_learning_selection",
        "--input",
        str(source),
        "--output",
        str(tmp_path / "out"),
        "--metadata-output",
        str(tmp_path / "meta"),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    doc = read_metadata(tmp_path / "meta")
    assert doc["input_rows"] == 200
    assert doc["strategy"] == strategy
    assert "INFO done" in _driver_output(done)
    assert doc["selected_rows"] == 10


def test_spark_submit_bad_input_exits_non_zero(
    tmp_path: Path, no_arrow_env: dict[str, str]
) -> None:
    rows = prediction_rows(20, classes=2, seed=4)
    rows[5]["prob_class_0"] = 1.7
    source = write_csv_parts(tmp_path / "in", rows, parts=1)
    env = {**no_arrow_env, "SELECTION_STRATEGY": "uncertainty"}
    done = _submit(
        env,
        "--input",
        str(source),
        "--output",
        str(tmp_path / "out"),
        "--metadata-output",
        str(tmp_path / "meta"),
    )
    assert done.returncode == 3
    errors = [line for line in _driver_output(done).splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert "outside [0, 1]" in errors[0] and "'5'" in errors[0]
    assert output_is_absent(tmp_path / "out", tmp_path / "meta")
