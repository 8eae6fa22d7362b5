"""What every strategy hands back: rows and a typed summary whose metadata is JSON."""

from __future__ import annotations

import math

from selection.strategies.result import NO_SUMMARY, StrategySummary, as_float


def test_one_scan_strategies_report_no_figures() -> None:
    assert NO_SUMMARY.metadata() == {}
    assert StrategySummary() == NO_SUMMARY


def test_figures_are_json_floats() -> None:
    assert as_float(2) == 2.0 and isinstance(as_float(2), float)
    assert as_float(math.inf) is None
    assert as_float(math.nan) is None
