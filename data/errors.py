"""The driftune exception hierarchy for bad input.

Every message names the file, the column and the problem, so a user can act on it without a
traceback. The CLI prints ``str(error)`` and exits non-zero.
"""

from __future__ import annotations

from pathlib import Path


class DriftuneError(Exception):
    """Base of every error driftune raises on purpose."""


class DataError(DriftuneError):
    """Input data that driftune cannot use; names the file, the column and the problem."""

    def __init__(
        self, problem: str, *, path: str | Path | None = None, column: str | None = None
    ) -> None:
        self.problem = problem
        self.path = str(path) if path is not None else None
        self.column = column
        super().__init__(self._compose())

    def _compose(self) -> str:
        where = []
        if self.path is not None:
            where.append(f"file {self.path}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        prefix = ", ".join(where)
        return f"{prefix}: {self.problem}" if prefix else self.problem


class MissingFileError(DataError):
    """The data file or folder does not exist or cannot be read."""


class MissingColumnError(DataError):
    """A required or declared column is absent."""


class EmptyDataError(DataError):
    """The data, or one batch of it, has no rows."""


class AllMissingError(DataError):
    """A label or feature column holds no values at all."""


class TimeParseError(DataError):
    """The time column cannot be parsed as dates."""


class TooFewClassesError(DataError):
    """Fewer than two label classes to train on."""


class DtypeError(DataError):
    """A column arrived with the wrong type (a numeric column as text)."""


class NonFiniteError(DataError):
    """A numeric feature holds inf or -inf, which no scaler or network can use."""


class DuplicateColumnError(DataError):
    """Two columns of one file share a name (pandas would silently rename the second)."""


class TooFewRowsError(EmptyDataError):
    """A split of the training window (train, validation or holdout) is too small to trust."""


class ConfigError(DriftuneError):
    """A configuration value that driftune cannot use; names the key."""
