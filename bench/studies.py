"""Writing a quality study's record: its JSON under bench/recorded, its plot, and the docs again."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def record(
    result: dict[str, Any],
    name: str,
    plot: Callable[[dict[str, Any], Path], None],
    picture: str,
    results_dir: str,
    docs_dir: str,
    **report_args: Any,
) -> None:
    """Write `<name>.json` and the plot; regenerate docs/benchmarks.md when writing to docs/."""
    results, docs = Path(results_dir), Path(docs_dir)
    results.mkdir(parents=True, exist_ok=True)
    docs.mkdir(parents=True, exist_ok=True)
    (results / f"{name}.json").write_text(json.dumps(result, indent=1))
    plot(result, docs / picture)
    print(f"wrote {docs / picture} and {results / f'{name}.json'}")

    from bench import report
    from bench.results import Results

    if docs.resolve() == (ROOT / "docs").resolve():
        recorded = Results.load(report.RECORDED / "results.json")
        for path in report.write(recorded, docs, **report_args):
            print(f"wrote {path}")
