"""Which process runs a flow or holds a lock, and whether that process is gone.

A process is named by its host, its pid and its start time: a pid alone can be reused by an
unrelated process after a crash. Only a process on this host can be judged gone; one elsewhere
is left to its lease running out.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from functools import cache

import psutil

TAG_PREFIX = "driftune-owner:"


@dataclass(frozen=True)
class Owner:
    host: str
    pid: int
    created: float  # the process's start time (seconds since the epoch)

    @classmethod
    def me(cls) -> Owner:
        return _me(os.getpid())

    def is_gone(self) -> bool:
        """True only when this host can tell: the process ended, or its pid now is another's."""
        if self.host != socket.gethostname():
            return False
        try:
            return abs(psutil.Process(self.pid).create_time() - self.created) >= 1.0
        except psutil.NoSuchProcess:
            return True
        except psutil.Error:  # no permission to look: it exists, so not provably gone
            return False

    def tag(self) -> str:
        return f"{TAG_PREFIX}{self.host}:{self.pid}:{self.created:.2f}"

    @classmethod
    def from_tag(cls, tag: str) -> Owner | None:
        if not tag.startswith(TAG_PREFIX):
            return None
        try:
            host, pid, created = tag.removeprefix(TAG_PREFIX).rsplit(":", 2)
            return cls(host, int(pid), float(created))
        except ValueError:
            return None

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}"


@cache
def _me(pid: int) -> Owner:  # keyed by pid: a forked child is another owner
    return Owner(socket.gethostname(), pid, psutil.Process(pid).create_time())


def project_tag(project: str) -> str:
    return f"driftune-project:{project}"


def run_tags(project: str) -> list[str]:
    """The tags that let a later retune find this process's flow runs of ``project``."""
    return ["driftune", project_tag(project), Owner.me().tag()]
