"""Errors of the step-building layer; each is a ValueError so callers can catch one family."""

from __future__ import annotations


class BuilderError(ValueError):
    """A step cannot be built from the given configuration, inputs or dependencies."""


class SpecificationError(BuilderError):
    """A contract or specification is malformed, or the two disagree."""


class DependencyResolutionError(BuilderError):
    """A required input is neither given nor found among the upstream steps."""
