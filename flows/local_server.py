"""One local Prefect server per project: started on first use, reused by every later command.

With no PREFECT_API_URL, Prefect starts a temporary server inside each process and gives up when
it does not answer within its start-up timeout; on a busy machine that failed most runs. driftune
instead starts the same server Prefect's ``prefect server start`` runs (uvicorn serving
``prefect.server.api.server:create_app``) once, detached, with its database under
``<project>/.driftune/prefect``, and records its URL and process in ``server.json`` there. A
later command checks that the process is the one recorded and that it answers, and reuses it. A
file lock makes two commands that start at once share one server. Nothing here imports Prefect.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil
from filelock import FileLock, Timeout

from data.errors import DriftuneError
from flows.outages import seconds_from_env

START_TIMEOUT_ENV = "DRIFTUNE_PREFECT_START_TIMEOUT_S"
DEFAULT_START_TIMEOUT_S = 300.0  # a loaded 2-core machine took over a minute to start one
STATE_FILE, LOCK_FILE, LOG_FILE = "server.json", "server.lock", "server.log"
# Leases on disk, not in the server's memory: a retune's lock survives a server restart and
# then expires as it should, instead of leaving its slot taken for good.
LEASE_STORAGE = "prefect.server.concurrency.lease_storage.filesystem"


class ServerStartError(DriftuneError):
    """The project's local Prefect server could not be started or does not answer."""


@dataclass(frozen=True)
class ServerState:
    """The recorded server: where it answers and which process it is."""

    url: str  # the API URL, http://127.0.0.1:<port>/api
    pid: int
    created: float  # the process's start time, so a reused pid is not mistaken for it

    @property
    def ui_url(self) -> str:
        return self.url.removesuffix("/api")


def server_home(project_root: Path) -> Path:
    return Path(project_root).resolve() / ".driftune" / "prefect"


def start_timeout_s() -> float:
    return seconds_from_env(START_TIMEOUT_ENV, DEFAULT_START_TIMEOUT_S, ServerStartError)


def ensure_server(home: Path, timeout_s: float | None = None) -> ServerState:
    """The running server recorded in ``home``, or a new one once it answers."""
    timeout_s = start_timeout_s() if timeout_s is None else timeout_s
    home.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(home / LOCK_FILE, timeout=timeout_s):
            state = read_state(home)
            if state is not None and is_running(state):
                if not wait_healthy(state.url, timeout_s):
                    raise ServerStartError(
                        f"the project's Prefect server (pid {state.pid}, {state.url}) does not "
                        f"answer after {timeout_s:.0f} s: stop it with `driftune server stop`"
                    )
                return state
            return _start(home, timeout_s)
    except Timeout as error:
        raise ServerStartError(
            f"another driftune command held {home / LOCK_FILE} for {timeout_s:.0f} s while "
            "starting the project's Prefect server"
        ) from error


def read_state(home: Path) -> ServerState | None:
    try:
        return ServerState(**json.loads((home / STATE_FILE).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def is_running(state: ServerState) -> bool:
    """True when the recorded process still runs (not another one that got its pid).

    An exited server whose parent, the command that started it, has not reaped it yet is a
    zombie: it no longer runs.
    """
    try:
        process = psutil.Process(state.pid)
        same = abs(process.create_time() - state.created) < 1.0
        return same and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def is_healthy(url: str, timeout_s: float = 5.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout_s) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def wait_healthy(
    url: str, timeout_s: float, process: subprocess.Popen[bytes] | None = None
) -> bool:
    """Poll the health endpoint until it answers, the process exits, or time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if is_healthy(url, timeout_s=min(10.0, max(1.0, deadline - time.monotonic()))):
            return True
        if process is not None and process.poll() is not None:
            return False
        time.sleep(0.2)
    return False


def stop_server(home: Path, timeout_s: float = 15.0) -> ServerState | None:
    """Stop the recorded server (SIGTERM, then SIGKILL); returns what was stopped."""
    with FileLock(home / LOCK_FILE, timeout=timeout_s):
        state = read_state(home)
        (home / STATE_FILE).unlink(missing_ok=True)
        if state is None or not is_running(state):
            return None
        process = psutil.Process(state.pid)
        process.terminate()
        if not _exits(process, timeout_s):
            process.kill()
        return state


def _exits(process: psutil.Process, timeout_s: float) -> bool:
    """Whether ``process`` ends within ``timeout_s``: gone, or exited and not yet reaped.

    ``psutil.Process.wait`` counts a zombie as alive, and the server is the child of the
    command that started it (a retune still running, say), not of this one: it waited out the
    whole timeout on a server that had stopped at once.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False


def _start(home: Path, timeout_s: float) -> ServerState:
    deadline = time.monotonic() + timeout_s
    for _ in range(3):  # a port found free can be taken before uvicorn binds it
        port = _free_port()
        process = _launch(home, port)
        state = ServerState(
            url=f"http://127.0.0.1:{port}/api",
            pid=process.pid,
            created=psutil.Process(process.pid).create_time(),
        )
        _write_state(home, state)  # so `driftune server stop` finds a server still starting
        if wait_healthy(state.url, max(1.0, deadline - time.monotonic()), process):
            return state
        (home / STATE_FILE).unlink(missing_ok=True)
        if process.poll() is None:
            _terminate(process)
            raise ServerStartError(
                f"the project's Prefect server did not answer within {timeout_s:.0f} s (a busy "
                f"machine? raise {START_TIMEOUT_ENV}); its log: {home / LOG_FILE}"
            )
        if "address already in use" not in _log_tail(home).lower():
            break
    raise ServerStartError(
        f"the project's Prefect server exited with code {process.returncode} while starting: "
        f"{_log_tail(home) or 'no output'} (log: {home / LOG_FILE})"
    )


def _launch(home: Path, port: int) -> subprocess.Popen[bytes]:
    url = f"http://127.0.0.1:{port}/api"
    environment = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": url,
        "PREFECT_UI_API_URL": url,
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": LEASE_STORAGE,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT__SERVER_FINAL": "1",  # what `prefect server start` sets for its own server
    }
    command = [sys.executable, "-m", "uvicorn", "--factory"]
    command += ["prefect.server.api.server:create_app", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--log-level", "warning"]
    with open(home / LOG_FILE, "ab") as log:
        # Its own session: the server outlives this command and ignores the terminal's Ctrl-C.
        return subprocess.Popen(
            command,
            env=environment,
            cwd=home,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _terminate(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _write_state(home: Path, state: ServerState) -> None:
    partial = home / f".{STATE_FILE}.tmp"
    partial.write_text(json.dumps(asdict(state)))
    partial.replace(home / STATE_FILE)


def _log_tail(home: Path) -> str:
    try:
        lines = (home / LOG_FILE).read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1].strip() if lines else ""
