"""`make bench`: the job against the scan floor, a single-node baseline and exact algorithms.

    python -m bench.run [--sizes 1000000,5000000,20000000] [--repeats 3] ...   (see --help)
    python -m bench.al_curve                                                   (learning curve)
    python -m bench.report                                                     (docs from results)

Only this package needs pyarrow, pandas, psutil, matplotlib and (optionally) scikit-activeml;
`selection/` and `jobs/` never import it.
"""
