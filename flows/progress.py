"""A hook through which the CLI watches trials finish, without flows knowing about terminals.

Flows call ``report(...)`` after each trial; the CLI installs a listener (a rich progress bar)
around a flow call with ``listening(...)``. Nothing listens by default.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from models.selection import TrialResult

Listener = Callable[[int, int, TrialResult], None]  # (finished, budget, result)
_listeners: list[Listener] = []


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)


def report(finished: int, budget: int, result: TrialResult) -> None:
    for listener in list(_listeners):
        listener(finished, budget, result)
