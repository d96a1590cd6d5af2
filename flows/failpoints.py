"""Named points where the fault-injection tests kill or hold this process, for real.

``reached(name)`` does nothing unless the environment variable ``DRIFTUNE_FAILPOINT`` names that
point. ``DRIFTUNE_FAILPOINT=<name>`` sends SIGKILL to this very process there: no cleanup, no
``finally``, no flushed buffers, exactly what a power cut or the OOM killer does.
``<name>=pause:<folder>`` holds every thread that reaches the point until the test releases it:
the thread leaves a file in ``<folder>`` (``paused_at`` counts them) and waits for ``release``.
A test then acts at a known moment (stops a server while a retune is mid-search, lets two
processes race through the same step) instead of guessing one from outside with slow work.
Timing a kill from outside cannot hit "after the version is registered, before the alias moves"
reliably; a named point can (the approach of etcd's gofail and TiKV's fail-rs). Only tests set
the variable.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

ENV = "DRIFTUNE_FAILPOINT"
# Every point, in the order a retune passes them.
POINTS = (
    "after-trial",  # a trial's run logged (FINISHED or FAILED), the search going on
    "after-search",  # trials all logged, nothing judged
    "after-judge",  # the gate's decision recorded on the search run
    "after-log-model",  # the final model logged, not registered
    "after-register",  # the version registered, the verdict not carried out
    "mid-alias-move",  # the pending move written, no alias moved yet
    "after-alias-move",  # the aliases moved, the audit record not written
    "before-log-check",  # a drift check computed, not yet logged
)
PAUSE = "pause:"
RELEASED = "released"  # the file whose presence lets paused threads go on
# A paused process whose test died goes on by itself after this, rather than hang for ever.
PAUSE_LIMIT_S = 900.0


def reached(name: str) -> None:
    """SIGKILL this process, or hold this thread, when the tests asked for it at ``name``."""
    if name not in POINTS:
        raise ValueError(f"unknown failpoint {name!r}; known: {POINTS}")
    point, _, action = os.environ.get(ENV, "").partition("=")
    if point != name:
        return
    if not action:
        os.kill(os.getpid(), signal.SIGKILL)
    elif action.startswith(PAUSE):
        _pause(Path(action.removeprefix(PAUSE)))
    else:
        raise ValueError(f"unknown failpoint action {action!r} in {ENV}; known: {PAUSE}<folder>")


def _pause(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{os.getpid()}-{threading.get_ident()}.paused").touch()
    deadline = time.monotonic() + PAUSE_LIMIT_S
    while not (folder / RELEASED).exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def paused_at(folder: Path) -> int:
    """How many threads have reached a ``pause:<folder>`` point so far (released or not)."""
    return len(list(folder.glob("*.paused"))) if folder.is_dir() else 0


def release(folder: Path) -> None:
    """Let every thread held at a ``pause:<folder>`` point go on, and any that reach it later."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / RELEASED).touch()
