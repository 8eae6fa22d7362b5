"""Errors the engine raises; `jobs/` turns each into one line on stderr and an exit code.

Every class is named `Selection<What>Error` and derives from `ValueError`, so a caller can catch
the whole family with either name.
"""

from __future__ import annotations

_UNSET = object()


class SelectionError(ValueError):
    """Base of every error a user can fix by changing the input or the configuration."""

    exit_code = 1


class SelectionConfigError(SelectionError):
    """A parameter is unknown, malformed or out of range."""

    exit_code = 2


class SelectionParamError(SelectionConfigError):
    """One parameter of a parameter class is out of range; names it as the library spells it.

    The job re-renders the same reason under the environment variable's name
    (`render("BATCH_SIZE")`), so each layer speaks its own user's language.
    """

    def __init__(self, argument: str, reason: str, value: object = _UNSET) -> None:
        self.argument = argument
        self.reason = reason
        self.value = value
        super().__init__(self.render(argument))

    def render(self, name: str) -> str:
        if self.value is _UNSET:
            return f"{name} {self.reason}"
        return f"{name}={self.value} {self.reason}"


class SelectionInputError(SelectionError):
    """The input data is missing, unreadable or does not satisfy the contract."""

    exit_code = 3


class SelectionOutputError(SelectionError):
    """The output path already holds files and --overwrite was not given, or is not a directory."""

    exit_code = 4
