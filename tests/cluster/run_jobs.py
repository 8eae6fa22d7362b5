"""spark-submit driver of the cluster tests: the job's main() once per planned run, one session.

    spark-submit tests/cluster/run_jobs.py PLAN.json RESULT.json

PLAN.json maps a run name to {"argv": [...], "env": {...}}; RESULT.json gets each run's exit code.
Starting one application for several runs keeps the cluster tests within their time budget;
each run goes through the same `main(argv, env, spark)` as `spark-submit jobs/...` does.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def run(plan_path: str, result_path: str) -> int:
    from jobs.active_sample_selection import main
    from selection.job.session import get_session

    plan = json.loads(Path(plan_path).read_text())
    spark = get_session()
    codes = {name: main(item["argv"], item["env"], spark) for name, item in plan.items()}
    Path(result_path).write_text(json.dumps(codes))
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(run(*sys.argv[1:3]))
