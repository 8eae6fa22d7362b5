"""The scan floor: a Spark job that reads every column of the input once and aggregates it.

    python -m bench.floor --input DIR [--master local[2]]

It runs on the same SparkSession configuration as the selection job (`selection.job.session`), so
the difference between a strategy and this floor is the strategy's own cost. Prints one line
`BENCH_FLOOR {json}` with the rows, the seconds after the session was up (comparable with the
job's own `done ... seconds=`) and the session start-up seconds.
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
    parser.add_argument("--input", required=True)
    parser.add_argument("--master", default="local[2]")
    args = parser.parse_args(argv)

    from pyspark.sql import functions as F
    from pyspark.sql.types import NumericType

    from selection.job.session import get_session

    clock = time.monotonic()
    spark = get_session(args.master, "WARN")
    session_seconds = time.monotonic() - clock
    clock = time.monotonic()
    df = spark.read.parquet(args.input)
    # A sum per numeric column (a count of the others): Parquet must decode every value.
    aggs = [F.count(F.lit(1)).alias("rows")] + [
        F.sum(F.col(f.name)).alias(f"s{i}")
        if isinstance(f.dataType, NumericType)
        else F.count(F.col(f.name)).alias(f"s{i}")
        for i, f in enumerate(df.schema.fields)
    ]
    row = df.agg(*aggs).collect()[0]
    seconds = time.monotonic() - clock
    print(
        MARKER
        + json.dumps(
            {
                "rows": int(row["rows"]),
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
