"""Named points where the fault-injection tests kill this process, for real, with SIGKILL.

``reached(name)`` does nothing unless the environment variable ``DRIFTUNE_FAILPOINT`` names that
point, and then sends SIGKILL to this very process: no cleanup, no ``finally``, no flushed
buffers, exactly what a power cut or the OOM killer does. ``<name>=sleep:<seconds>`` pauses
there instead, so two processes can be made to race through the same step. Timing a kill from
outside cannot hit "after the version is registered, before the alias moves" reliably; a named
point can (the approach of etcd's gofail and TiKV's fail-rs). Only tests set the variable.
"""

from __future__ import annotations

import os
import signal
import time

ENV = "DRIFTUNE_FAILPOINT"
# Every point, in the order a retune passes them.
POINTS = (
    "after-search",  # trials all logged, nothing judged
    "after-judge",  # the gate's decision recorded on the search run
    "after-log-model",  # the final model logged, not registered
    "after-register",  # the version registered, the verdict not carried out
    "mid-alias-move",  # the pending move written, no alias moved yet
    "after-alias-move",  # the aliases moved, the audit record not written
    "before-log-check",  # a drift check computed, not yet logged
)


def reached(name: str) -> None:
    """SIGKILL this process when the tests asked for a kill at ``name``."""
    if name not in POINTS:
        raise ValueError(f"unknown failpoint {name!r}; known: {POINTS}")
    asked = os.environ.get(ENV, "")
    if asked == name:
        os.kill(os.getpid(), signal.SIGKILL)
    if asked.startswith(f"{name}=sleep:"):
        time.sleep(float(asked.removeprefix(f"{name}=sleep:")))
