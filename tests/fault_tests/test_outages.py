"""Servers that are down or die mid-run: one line naming the server, exit 1, champion unmoved.

Before the bounds, an unreachable tracking server kept `tune` for 1,074 s and `status` for 325 s,
each ending in a 143-183-line traceback, and a dead Prefect API in a 135-line one.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml
from mlflow import MlflowClient

from flows.cli.status import read_champion
from flows.failpoints import paused_at, release
from flows.store.handle import Store
from flows.store.tracking import TrackingConfig
from tests.fault_tests.processes import (
    cli_env,
    closed_port,
    error_lines,
    invoke,
    run,
    search_runs,
    start,
    wait_for,
)
from tests.flow_tests.projects import batch, land, make_project

BOUND_S = 5.0  # tracking.timeout_s in these projects


def _point_tracking_at(config: Path, uri: str, timeout_s: float = BOUND_S) -> None:
    raw = yaml.safe_load(config.read_text())
    raw["tracking"] = {"uri": uri, "timeout_s": timeout_s}
    config.write_text(yaml.safe_dump(raw))


@pytest.mark.parametrize("command", ["status", "predict", "tune"])
def test_an_unreachable_tracking_server_is_one_line_within_the_bound(
    tmp_path: Path, command: str
) -> None:
    config = make_project(tmp_path)
    land(tmp_path, "a", batch(np.random.default_rng(0), "2024-01-01", n=50))
    uri = f"http://127.0.0.1:{closed_port()}"
    _point_tracking_at(config, uri)
    args = {
        "status": ["status"],
        "predict": ["predict", str(tmp_path / "incoming" / "a.csv"), str(tmp_path / "out.csv")],
        "tune": ["tune"],
    }[command]
    started = time.monotonic()
    if command == "tune":
        # A process whose Prefect is unreachable too: the tracking server is checked first, so
        # tune never gets there (in this process, Prefect would be the session's server).
        env = cli_env(f"http://127.0.0.1:{closed_port()}/api")
        result = run(*args, "--config", str(config), env=env, timeout=300)
        code, lines = result.returncode, error_lines(result)
    else:  # status and predict never import Prefect: in this process
        code, output = invoke(*args, "--config", str(config))
        lines = [line for line in output.splitlines() if line.strip()]
    took = time.monotonic() - started
    assert code == 1, lines
    assert len(lines) == 1, lines
    assert f"the tracking server {uri} did not answer (Connection refused)" in lines[0]
    assert "nothing changed" in lines[0]
    assert took < 60, f"{command} took {took:.0f} s against a {BOUND_S:.0f} s bound"
    assert not (tmp_path / "out.csv").exists()
    assert not (tmp_path / ".driftune" / "prefect").exists(), "no Prefect server was started"


def test_a_dead_prefect_api_is_one_line_and_nothing_runs(
    tmp_path: Path, template_store: Path
) -> None:
    config = make_project(tmp_path, template_store)
    land(tmp_path, "a", batch(np.random.default_rng(0), "2024-01-01", n=50))
    url = f"http://127.0.0.1:{closed_port()}/api"
    result = run("tune", "--config", str(config), env=cli_env(url), timeout=300)
    lines = error_lines(result)
    assert result.returncode == 1, result.stdout + result.stderr
    assert len(lines) == 1, lines
    assert f"the Prefect API {url} did not answer" in lines[0]
    assert "nothing ran and nothing changed" in lines[0]
    assert search_runs(config) == []


@pytest.fixture
def mlflow_server(
    tmp_path: Path, template_store: Path
) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    """A real `mlflow server` on a SQLite store, artifacts proxied; yields URL, process, db.

    Its database starts as a copy of the migrated template: the server finds its schema current
    and runs no migrations.
    """
    database = tmp_path / "server" / "mlflow.db"
    database.parent.mkdir()
    shutil.copyfile(template_store, database)
    port = closed_port()
    command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", "1"]
    command += ["--backend-store-uri", f"sqlite:///{database}"]
    command += ["--artifacts-destination", str(tmp_path / "server" / "artifacts")]
    # Its own process group: `mlflow server` serves from a uvicorn child, killed with it.
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(url) or process.poll() is not None, 300, "mlflow server")
        assert process.poll() is None, "mlflow server exited while starting"
        yield url, process, database
    finally:
        _kill_group(process)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _champion_in(database: Path, name: str) -> str | None:
    """The champion read from the server's own database file, with or without the server."""
    uri = f"sqlite:///{database}"
    found = read_champion(Store(MlflowClient(uri, uri), TrackingConfig(uri, None, name)))
    return None if found is None else found.version


@pytest.mark.slow
def test_the_tracking_server_killed_mid_search_is_one_line_and_the_champion_stays(
    tmp_path: Path,
    mlflow_server: tuple[str, subprocess.Popen[bytes], Path],
    prefect_api_url: str,
) -> None:
    url, server, database = mlflow_server
    project = tmp_path / "project"
    config = make_project(project)
    land(project, "a", batch(np.random.default_rng(0), "2024-01-01"))
    _point_tracking_at(config, url, timeout_s=10)
    code, output = invoke("tune", "--config", str(config))
    assert code == 0, output
    assert _champion_in(database, "toy") == "1"

    # The second search holds after its first logged trial while the server is killed: the
    # search is then mid-way for certain, with trials still to log.
    pause = tmp_path / "pause"
    env = cli_env(prefect_api_url, DRIFTUNE_FAILPOINT=f"after-trial=pause:{pause}")
    second = start("tune", "--config", str(config), env=env)
    try:
        held = lambda: paused_at(pause) or second.poll() is not None  # noqa: E731
        wait_for(held, 600, "a trial of the second search")
        assert second.poll() is None, second.communicate()
        _kill_group(server)
    finally:
        release(pause)
    killed_at = time.monotonic()
    out, err = second.communicate(timeout=600)
    took = time.monotonic() - killed_at
    lines = [line for line in (out + err).splitlines() if line.strip()]
    assert second.returncode == 1, out + err
    assert len(lines) == 1, lines
    assert f"the tracking server {url} did not answer" in lines[0]
    assert "the champion was version 1 before" in lines[0]
    assert took < 180, f"it took {took:.0f} s after the kill to say so"
    assert _champion_in(database, "toy") == "1"
