"""Long-running server processes for the team-setup tests: start, wait until healthy, stop.

Each service runs in a process group of its own (``start_new_session``), so stopping it reaches
the children it started (uvicorn workers, PostgreSQL backends, Dask nannies). Its output goes to
a log file whose tail is in every failure message.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
QUIET = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}
# MLflow's HTTP client retries for minutes by default; a server that is down fails in seconds.
MLFLOW_BOUNDS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}


def missing(reason: str) -> None:
    """A part of the setup is not installed: fail in CI (``$CI`` set), skip elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(f"team-server tests: {reason}", pytrace=False)
    pytest.skip(f"team-server tests: {reason}")


def executable(name: str, *folders: Path) -> str:
    """``name`` from ``folders`` (the venv's bin first), else from PATH; ``missing`` if nowhere."""
    for folder in (VENV_BIN, *folders):
        candidate = folder / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        where = ", ".join(str(folder) for folder in (VENV_BIN, *folders))
        missing(f"`{name}` is not installed (looked in {where} and on PATH)")
    return str(found)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def base_env(**extra: str) -> dict[str, str]:
    """This environment, driftune's code first on the path, no telemetry, ``extra`` on top."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_"))}
    env.update(QUIET)
    # As in an activated venv: tools start others by name (`mlflow models serve` runs uvicorn).
    env["PATH"] = os.pathsep.join([str(VENV_BIN), *filter(None, [os.environ.get("PATH")])])
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
    env.update(extra)
    return env


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes in process group ``pgid``."""
    proc = Path("/proc")
    if not proc.is_dir():  # not Linux: ask the kernel whether the group has anyone
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        return [pgid]
    members = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state not in ("Z", "X"):
            members.append(int(entry.name))
    return members


@dataclass
class Service:
    """One server process (and its group), its log, and how long it took to become healthy."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    stop_signal: int = signal.SIGTERM
    started_s: float = field(default=0.0)
    began: float = field(default_factory=time.monotonic)
    data_dir: Path | None = None  # a folder of its own, removed once it stopped

    @classmethod
    def start(
        cls,
        name: str,
        args: Sequence[str],
        *,
        env: Mapping[str, str],
        logs: Path,
        cwd: Path | None = None,
        stop_signal: int = signal.SIGTERM,
        **popen: Any,
    ) -> Service:
        log = logs / f"{name}.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                list(args),
                env=dict(env),
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                **popen,
            )
        return cls(name, process, log, stop_signal)

    def wait_healthy(self, healthy: Callable[[], bool], timeout: float) -> None:
        """Poll ``healthy`` until it is true; fail with the log's tail on timeout or exit."""
        deadline = self.began + timeout
        while True:
            code = self.process.poll()
            if code is not None:
                raise AssertionError(
                    f"{self.name} exited with code {code} before it was healthy; "
                    f"its log ({self.log}) ends:\n{tail(self.log)}"
                )
            try:
                if healthy():
                    self.started_s = time.monotonic() - self.began
                    return
            except Exception:  # noqa: BLE001 - not up yet; the deadline decides
                pass
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.name} was not healthy after {timeout:.0f} s; "
                    f"its log ({self.log}) ends:\n{tail(self.log)}"
                )
            time.sleep(0.5)

    def stop(self, timeout: float = 30) -> list[int]:
        """Signal it, wait, then kill its whole group; returns any process still alive."""
        pgid = self.process.pid  # start_new_session: the leader's pid is the group's id
        if self.process.poll() is None:
            try:
                os.kill(self.process.pid, self.stop_signal)
                self.process.wait(timeout)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        for sig in (signal.SIGTERM, signal.SIGKILL):  # children the leader left behind
            if not group_members(pgid):
                break
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            _wait_until(lambda: not group_members(pgid), 10)
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        return group_members(pgid)


def _wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def driftune(
    *args: str, env: Mapping[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """The real CLI in a subprocess: ``python -m flows.cli`` of this checkout (base_env's path)."""
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )


def said(done: subprocess.CompletedProcess[str]) -> str:
    """What a finished command printed, for failure messages."""
    return f"exit {done.returncode}\nstdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
