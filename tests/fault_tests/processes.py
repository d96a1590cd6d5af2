"""Helpers for running the real `driftune` executable and watching its project from outside.

A test starts a `driftune` process only where a process is what it tests: the run it kills,
the racers, a server it stops. Setup and reruns that nothing kills run in this process through
``invoke`` (typer's CliRunner), sparing an interpreter start and ~5 s of imports each.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, FlowRunFilterTags
from typer.testing import CliRunner

from flows.cli.app import app
from flows.cli.status import read_champion
from flows.config import load_config
from flows.run_owner import Owner, project_tag
from flows.store.project import open_store
from flows.store.tracking import all_runs

DRIFTUNE = str(Path(sys.executable).parent / "driftune")


def cli_env(prefect_api_url: str | None, **extra: str) -> dict[str, str]:
    """This environment (PYTHONPATH included) with the Prefect API the subprocess should use."""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(extra)
    if prefect_api_url is not None:
        env["PREFECT_API_URL"] = prefect_api_url
    return env


def start(*args: str, env: Mapping[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [DRIFTUNE, *args],
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run(
    *args: str, env: Mapping[str, str], timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DRIFTUNE, *args], env=dict(env), capture_output=True, text=True, timeout=timeout
    )


def invoke(*args: str) -> tuple[int, str]:
    """`driftune ARGS` in this process: its exit code and output (stdout and stderr together).

    Flow commands use the session's Prefect server (the ``prefect_server`` fixture). The CLI
    sets Prefect's and MLflow's environment variables as it starts (flows/cli/app.py); they are
    put back afterwards, so one command's settings never leak into the next test. Only a
    SystemExit (the one-line error path) counts as handled: any other exception fails here with
    its traceback.
    """
    saved = dict(os.environ)
    try:
        result = CliRunner().invoke(app, list(args))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        assert result.exc_info is not None
        raise AssertionError("".join(traceback.format_exception(*result.exc_info)))
    return result.exit_code, result.output


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The non-empty lines a failed command printed, stdout and stderr together."""
    return [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]


def closed_port() -> int:
    """A port nothing listens on (bound, then closed: connections to it are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def search_runs(config_path: Path) -> list[Any]:
    store = open_store(load_config(config_path))
    client = store.client
    experiment = client.get_experiment_by_name(store.experiment_name("search"))
    if experiment is None:
        return []
    return all_runs(client, [experiment.experiment_id], "tags.`driftune.kind` = 'search'")


def trial_runs(config_path: Path) -> list[Any]:
    """Every trial run of every search of the project, finished or not."""
    store = open_store(load_config(config_path))
    client = store.client
    experiment = client.get_experiment_by_name(store.experiment_name("search"))
    if experiment is None:
        return []
    return all_runs(client, [experiment.experiment_id], "tags.trial_key LIKE '%'")


def finished_trials(config_path: Path) -> list[Any]:
    return [run for run in trial_runs(config_path) if run.info.status in ("FINISHED", "FAILED")]


def champion_version(config_path: Path) -> str | None:
    store = open_store(load_config(config_path))
    found = read_champion(store)
    return None if found is None else found.version


def flow_runs_of(config_path: Path, owner_pid: int) -> list[Any]:
    """The Prefect flow runs the process ``owner_pid`` ran for this project's config.

    Read from the session's Prefect server: the runs carry their owner's tag
    (flows/run_owner.py) and the request naming the config.
    """
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[project_tag("toy")]))
        )
    return [
        run
        for run in runs
        if _owned_by(run.tags, owner_pid)
        and run.parameters.get("request", {}).get("config_path") == str(config_path)
    ]


def trained_trials(flow_run_ids: list[Any], settle_s: float = 2.0) -> list[int]:
    """The trial indices the flow runs trained: their `train-trial` task runs, by name.

    The server records task runs from events, a moment after they ran: the list is read until
    it stops changing for ``settle_s``.
    """
    with get_client(sync_client=True) as client:

        def read() -> list[int]:
            runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=list(flow_run_ids)))
            )
            names = [run.name for run in runs if run.name.startswith("trial-")]
            return sorted(int(name.removeprefix("trial-")) for name in names)

        seen, deadline = read(), time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(settle_s)
            again = read()
            if again == seen and seen:
                return seen
            seen = again
        return seen


def _owned_by(tags: list[str], pid: int) -> bool:
    return any((owner := Owner.from_tag(tag)) is not None and owner.pid == pid for tag in tags)
