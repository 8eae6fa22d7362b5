"""spark-submit entry point of the selection job.

    spark-submit jobs/active_sample_selection.py --job_type ssl_selection [--input ...]
    python -m jobs.active_sample_selection ...      (same, on a local SparkSession)

Configuration comes from the contract's environment variables; each has a flag that wins.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from collections.abc import Mapping, Sequence

if __package__ in (None, ""):
    # spark-submit runs this file as a script; the selection package then comes from --py-files
    # or, in a checkout, from the directory above.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pyspark.sql import SparkSession

from selection.errors import SelectionError, SelectionInputError
from selection.job.config import ENV_VARS, OPTIONAL_ENV_VARS, in_job_terms, job_params_from_env
from selection.names import (
    CONTAINER_INPUT_PATHS,
    CONTAINER_OUTPUT_PATHS,
    DEFAULT_JOB_TYPE,
    INPUT_EVALUATION_DATA,
    INPUT_LABELED_DATA,
    INPUT_VALIDATION_DATA,
    OUTPUT_SELECTED_SAMPLES,
    OUTPUT_SELECTION_METADATA,
    PATH_ARGUMENTS,
)

log = logging.getLogger("selection")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="active_sample_selection",
        description="Select rows of a prediction set to pseudo-label or to label by hand.",
    )
    parser.add_argument(
        "--job_type",
        "--job-type",
        dest="job_type",
        default=DEFAULT_JOB_TYPE,
        help="recorded in the metadata (ssl_selection, active_learning_selection)",
    )
    parser.add_argument(
        PATH_ARGUMENTS[INPUT_EVALUATION_DATA],
        dest="input",
        default=CONTAINER_INPUT_PATHS[INPUT_EVALUATION_DATA],
        help="predictions: a file or directory, local, file://, s3:// or s3a://",
    )
    parser.add_argument(
        PATH_ARGUMENTS[INPUT_LABELED_DATA],
        dest="labeled_data",
        default=None,
        help="rows already labelled: their ids are never selected",
    )
    parser.add_argument(
        PATH_ARGUMENTS[INPUT_VALIDATION_DATA],
        dest="validation_data",
        default=None,
        help="predictions on rows of known label (LABEL_FIELD), for CONFIDENCE_THRESHOLD=auto "
        "and CALIBRATION=temperature",
    )
    parser.add_argument(
        PATH_ARGUMENTS[OUTPUT_SELECTED_SAMPLES],
        dest="output",
        default=CONTAINER_OUTPUT_PATHS[OUTPUT_SELECTED_SAMPLES],
    )
    parser.add_argument(
        PATH_ARGUMENTS[OUTPUT_SELECTION_METADATA],
        dest="metadata_output",
        default=CONTAINER_OUTPUT_PATHS[OUTPUT_SELECTION_METADATA],
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an output path that already holds files"
    )
    parser.add_argument(
        "--master", default=None, help="Spark master when run with python -m (default local[*])"
    )
    group = parser.add_argument_group("configuration (each flag overrides its variable)")
    for var in ENV_VARS:
        default = "required" if var.default is None else repr(var.default)
        group.add_argument(
            var.flag,
            dest=var.name,
            default=None,
            help=f"{var.help} [{var.name}, default {default}]",
        )
    return parser


def resolve_config(args: argparse.Namespace, env: Mapping[str, str]) -> dict[str, str]:
    """Environment variables of the contract, with the flags given on the command line on top."""
    merged = {var.name: env[var.name] for var in ENV_VARS if var.name in env}
    merged.update(
        {
            var.name: getattr(args, var.name)
            for var in ENV_VARS
            if getattr(args, var.name) is not None
        }
    )
    return merged


def _default_labeled_path(name: str = INPUT_LABELED_DATA) -> str | None:
    path = CONTAINER_INPUT_PATHS[name]
    return path if os.path.isdir(path) and os.listdir(path) else None


def configure_logging(spark_log_level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    log.handlers[:] = [handler]
    log.setLevel(logging.INFO)
    log.propagate = False
    # py4j logs every JVM call at DEBUG/INFO; the job's own lines are what a user should see.
    logging.getLogger("py4j").setLevel(
        logging.WARNING if spark_log_level != "INFO" else logging.INFO
    )


def main(
    argv: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    spark: SparkSession | None = None,
) -> int:
    """Run the job; returns the process exit code (0 on success)."""
    env = os.environ if env is None else env
    args = build_parser().parse_args(argv)
    config = resolve_config(args, env)
    spark_log_level = config.get("SPARK_LOG_LEVEL", OPTIONAL_ENV_VARS["SPARK_LOG_LEVEL"]).upper()
    configure_logging(spark_log_level)
    try:
        params = job_params_from_env(config)
        from selection.job.runner import JobPaths, run
        from selection.job.session import get_session

        session = spark if spark is not None else get_session(args.master, spark_log_level)
        paths = JobPaths(
            input=args.input,
            output=args.output,
            metadata_output=args.metadata_output,
            labeled_data=args.labeled_data or _default_labeled_path(),
            validation_data=args.validation_data or _default_labeled_path(INPUT_VALIDATION_DATA),
        )
        run(session, params, paths, job_type=args.job_type, overwrite=args.overwrite)
    except SelectionError as exc:
        print(f"error: {in_job_terms(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:  # Spark and I/O failures: one line, the trace only at DEBUG
        log.debug("job failed", exc_info=True)
        code, line = classify_failure(exc)
        print(f"error: {line}", file=sys.stderr)
        return code
    return 0


FAILURE_EXIT_CODE = 5

# Failures Spark only meets while scanning the input (the files are read lazily): the input is
# unreadable, so they exit like the other input errors.
_INPUT_FAILURES = (
    "CSV header does not conform to the schema",
    "is not a Parquet file",
    "Parquet column cannot be converted",
    "ParquetDecodingException",
    "Could not read footer",
)


def spark_failure_line(exc: BaseException) -> str:
    """The most telling line of a (possibly JVM) exception, without the stack trace or keys."""
    from selection.job.io import cause_line, redact

    line = cause_line(exc)
    csv_file = re.search(r"^\s*CSV file: (\S+)", str(exc), re.MULTILINE)
    if csv_file and csv_file.group(1) not in line:
        line = f"{line} (file {csv_file.group(1)})"
    return redact(line)[:500]


def _jvm_gone(exc: BaseException) -> bool:
    """Whether the driver lost its JVM: py4j's connection refused or reset, the JVM having exited
    (in this job almost always an out-of-memory error, logged above by the JVM itself)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError | ConnectionResetError | BrokenPipeError):
            return True
        if type(seen).__name__ == "Py4JNetworkError":
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def classify_failure(exc: BaseException) -> tuple[int, str]:
    """(exit code, one line) for a failure that is not a SelectionError."""
    if _jvm_gone(exc):
        return FAILURE_EXIT_CODE, (
            "the Spark JVM stopped during the run (most often out of memory; its own error is "
            "in the log above): give the driver and executors more memory "
            "(spark.driver.memory, spark.executor.memory, a larger instance), or write the input "
            "in smaller Parquet row groups or more, smaller files when its rows are very wide"
        )
    text = str(exc)
    if any(marker in text for marker in _INPUT_FAILURES):
        return SelectionInputError.exit_code, f"cannot read the input: {spark_failure_line(exc)}"
    return FAILURE_EXIT_CODE, spark_failure_line(exc)


if __name__ == "__main__":
    sys.exit(main())
