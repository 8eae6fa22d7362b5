"""The floors: what touching the input once costs, on the job's own SparkSession settings.

    python -m bench.floor --input DIR [--master local[2]]
    python -m bench.floor --input DIR --write OUT [--threshold 0.9]

The scan floor reads every column and sums each one (Parquet must decode every value). The write
floor reads the input and writes the rows whose highest probability reaches the threshold, as
they are, unranked, as Parquet: what uncapped confidence_threshold cannot do with less. Both run
on `selection.job.session` like the job, so a strategy's ratio to its floor is its own cost.
Prints one line `BENCH_FLOOR {json}`: rows, columns, partitions, the session start-up seconds
and the seconds after it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence

MARKER = "BENCH_FLOOR "


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.floor", description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True)  # a directory of Parquet part files
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--write", default=None, help="write floor: where the rows go")
    parser.add_argument("--threshold", type=float, default=0.9)
    args = parser.parse_args(argv)

    from pyspark.sql import functions as F
    from pyspark.sql.types import NumericType

    from selection.job.session import get_session
    from selection.names import DEFAULT_SCORE_PREFIX

    clock = time.monotonic()
    spark = get_session(args.master, "WARN")
    session_seconds = time.monotonic() - clock
    clock = time.monotonic()
    df = spark.read.parquet(args.input)
    if args.write:
        scores = [F.col(c) for c in df.columns if c.startswith(DEFAULT_SCORE_PREFIX)]
        kept = df.where(F.greatest(*scores) >= F.lit(args.threshold))
        kept.write.mode("overwrite").parquet(args.write)
        rows = None  # counting them would be one more Spark job the floor is not charged for
    else:
        # A sum per numeric column (a count of the others): Parquet must decode every value.
        aggs = [F.count(F.lit(1)).alias("rows")] + [
            F.sum(F.col(f.name)).alias(f"s{i}")
            if isinstance(f.dataType, NumericType)
            else F.count(F.col(f.name)).alias(f"s{i}")
            for i, f in enumerate(df.schema.fields)
        ]
        rows = int(df.agg(*aggs).collect()[0]["rows"])
    seconds = time.monotonic() - clock
    print(
        MARKER
        + json.dumps(
            {
                "rows": rows,
                "columns": len(df.columns),
                "seconds": round(seconds, 3),
                "session_seconds": round(session_seconds, 3),
                "partitions": df.rdd.getNumPartitions(),
            }
        ),
        flush=True,
    )
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
