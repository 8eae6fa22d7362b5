"""`make bench`: the job against its floors, the exact algorithms and its own targets.

    python -m bench.run [--groups ...] [--budget-minutes M] [--quick] [--dry-run]   (see --help)
    python -m bench.report                                                           (the docs)
    python -m bench.al_curve                                                  (learning curve)

plan (what is measured) -> execute (one run) -> results (merged sessions) -> targets, tables,
status -> report (docs/benchmarks.md). Only this package needs pyarrow, pandas, psutil and
matplotlib; `selection/` and `jobs/` never import it.
"""
