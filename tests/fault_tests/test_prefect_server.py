"""The project's own Prefect server: shared by concurrent commands, reused, and stopped mid-run.

With no PREFECT_API_URL, driftune starts one server per project and every later command reuses
it (flows/local_server.py). Before, each command started a temporary server of its own, and on
a busy machine 5 runs in 6 died waiting for it; a server killed mid-retune ended, after the
retune had promoted, in a traceback 447 s later and exit 1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from flows.failpoints import paused_at, release
from flows.local_server import read_state, server_home
from tests.fault_tests.processes import (
    champion_version,
    cli_env,
    error_lines,
    invoke,
    run,
    start,
    wait_for,
)
from tests.flow_tests.projects import batch, land, make_project


@pytest.fixture
def own_prefect_env(tmp_path: Path) -> dict[str, str]:
    """No PREFECT_API_URL and a Prefect home of its own: driftune must use its project server."""
    return cli_env(None, PREFECT_HOME=str(tmp_path / "user-prefect-home"))


@pytest.mark.slow
def test_two_commands_at_once_start_one_server_that_later_commands_reuse(
    tmp_path: Path, own_prefect_env: dict[str, str]
) -> None:
    config = str(make_project(tmp_path))
    both = [start("server", "start", "-c", config, env=own_prefect_env) for _ in range(2)]
    outputs = [process.communicate(timeout=600)[0] for process in both]
    try:
        assert all(process.returncode == 0 for process in both), outputs
        state = read_state(server_home(tmp_path))
        assert state is not None
        assert all(f"pid {state.pid}" in output for output in outputs), outputs
        # What a later command finds (in this process: only the two starts race).
        _, again = invoke("server", "status", "-c", config)
        assert f"answers: UI {state.ui_url}" in again and f"pid {state.pid}" in again, again
    finally:
        _, stopped = invoke("server", "stop", "-c", config)
    assert "stopped the Prefect server" in stopped, stopped
    _, after = invoke("server", "status", "-c", config)
    assert "no Prefect server runs" in after, after


@pytest.mark.slow
def test_the_project_server_stopped_mid_retune_and_then_down(
    tmp_path: Path, template_store: Path, own_prefect_env: dict[str, str]
) -> None:
    config = make_project(tmp_path, template_store)
    land(tmp_path, "a-2024-01", batch(np.random.default_rng(0), "2024-01-01"))
    # The tune holds after its first logged trial while its server is stopped: mid-search for
    # certain, with trials still to train and the gate to come.
    pause = tmp_path / "pause"
    env = {**own_prefect_env, "DRIFTUNE_FAILPOINT": f"after-trial=pause:{pause}"}
    # How long the API is retried is not what this test is about (test_outages.py's dead API
    # is): 10 s instead of the default 60 spares two minute-long waits.
    env["DRIFTUNE_PREFECT_TIMEOUT_S"] = "10"

    retune = start("tune", "--config", str(config), env=env)  # starts the project's server
    try:
        held = lambda: paused_at(pause) or retune.poll() is not None  # noqa: E731
        wait_for(held, 900, "a logged trial")
        assert retune.poll() is None, retune.communicate()
        state = read_state(server_home(tmp_path))
        assert state is not None, "the tune started the project's server"
        code, stopped = invoke("server", "stop", "-c", str(config))
        assert code == 0 and "stopped the Prefect server" in stopped, stopped
    finally:
        release(pause)
    out, err = retune.communicate(timeout=900)
    said = out + err
    assert "Traceback" not in said, said
    champion = champion_version(config)
    if retune.returncode == 0:  # the search and the gate went on without Prefect: it says so
        (note,) = [line for line in said.splitlines() if line.startswith("note:")]
        assert "the Prefect API" in note and "did not answer" in note
        assert champion == "1" and "PROMOTED" in said  # the verdict as the table prints it
    else:  # it stopped before the gate (its lock's lease lapsed): one line, champion as it says
        lines = [line for line in said.splitlines() if line.strip()]
        assert retune.returncode == 1 and len(lines) == 1, lines
        assert "the Prefect API" in lines[0]
        assert champion is None and "the champion is unchanged (no champion)" in lines[0]

    # The server stays down (a user's PREFECT_API_URL does not start one): one line, nothing runs.
    gone = {**own_prefect_env, "DRIFTUNE_PREFECT_TIMEOUT_S": "10", "PREFECT_API_URL": state.url}
    down = run("tune", "--config", str(config), env=gone)
    lines = error_lines(down)
    assert down.returncode == 1 and len(lines) == 1, lines
    assert f"the Prefect API {state.url} did not answer" in lines[0]
    assert "nothing ran and nothing changed" in lines[0]
    assert champion_version(config) == champion
