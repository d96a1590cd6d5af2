"""A hook through which the CLI watches work advance, without flows knowing about terminals.

Flows call ``report(...)`` after each trial, ``report_activity(...)`` when a step with no trials
begins (choosing the window, refitting, the gate, a baseline), and ``report_step(...)`` after
each step of a longer job (a backtest's batches); the CLI installs listeners (rich progress
bars) around a flow call with ``listening(...)``, ``listening_activities(...)`` and
``listening_steps(...)``. Nothing listens by default.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from models.search.trials import TrialResult

Listener = Callable[[int, int, TrialResult], None]  # (finished, budget, result)
StepListener = Callable[[int, int, str], None]  # (done, total, what was just done)
ActivityListener = Callable[[str], None]  # (what runs now)
_listeners: list[Listener] = []
_step_listeners: list[StepListener] = []
_activity_listeners: list[ActivityListener] = []
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


@contextmanager
def listening_activities(listener: ActivityListener) -> Iterator[None]:
    with _listening(_activity_listeners, listener):
        yield


def report(finished: int, budget: int, result: TrialResult) -> None:
    for listener in list(_listeners):
        listener(finished, budget, result)


def report_step(done: int, total: int, label: str) -> None:
    for listener in list(_step_listeners):
        listener(done, total, label)


def report_activity(what: str) -> None:
    """A step without trials begins: ``what`` says which (e.g. "refit on the window")."""
    for listener in list(_activity_listeners):
        listener(what)
