"""Errors the ML core raises on purpose, in driftune's hierarchy (see data.errors)."""

from __future__ import annotations

from collections.abc import Sequence

from data.errors import DriftuneError
from models.search.trials import TrialResult


class SearchError(DriftuneError):
    """A search that cannot go on: too many trials in a row failed, or none finished ok.

    ``errors`` holds the last trials' error texts and ``results`` every result gathered so far,
    so a caller can log the partial search before reporting the error.
    """

    def __init__(
        self, message: str, *, errors: Sequence[str] = (), results: Sequence[TrialResult] = ()
    ) -> None:
        self.errors = tuple(errors)
        self.results = tuple(results)
        super().__init__(message)
