"""Shared maths of the strategies: score expressions, ranking, rows <-> numpy blocks."""
