"""A hook through which the CLI watches work advance, without flows knowing about terminals.

Flows call ``report(...)`` after each trial and ``report_step(...)`` after each step of a longer
job (a backtest's batches); the CLI installs listeners (rich progress bars) around a flow call
with ``listening(...)`` / ``listening_steps(...)``. Nothing listens by default.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from models.search.trials import TrialResult

Listener = Callable[[int, int, TrialResult], None]  # (finished, budget, result)
StepListener = Callable[[int, int, str], None]  # (done, total, what was just done)
_listeners: list[Listener] = []
_step_listeners: list[StepListener] = []
L = TypeVar("L")


@contextmanager
def _listening(registry: list[L], listener: L) -> Iterator[None]:
    registry.append(listener)
    try:
        yield
    finally:
        registry.remove(listener)


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    with _listening(_listeners, listener):
        yield


@contextmanager
def listening_steps(listener: StepListener) -> Iterator[None]:
    with _listening(_step_listeners, listener):
        yield


def report(finished: int, budget: int, result: TrialResult) -> None:
    for listener in list(_listeners):
        listener(finished, budget, result)


def report_step(done: int, total: int, label: str) -> None:
    for listener in list(_step_listeners):
        listener(done, total, label)
