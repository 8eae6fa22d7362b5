"""Errors the engine raises; `jobs/` turns each into one line on stderr and an exit code."""

from __future__ import annotations


class SelectionError(ValueError):
    """Base of every error a user can fix by changing the input or the configuration."""

    exit_code = 1


class SelectionConfigError(SelectionError):
    """A parameter is unknown, malformed or out of range."""

    exit_code = 2


class SelectionInputError(SelectionError):
    """The input data is missing, unreadable or does not satisfy the contract."""

    exit_code = 3


class OutputExistsError(SelectionError):
    """The output path already holds files and --overwrite was not given."""

    exit_code = 4
