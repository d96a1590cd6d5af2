"""Helpers for running the real `driftune` executable and watching its project from outside."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from flows.cli.status import read_champion
from flows.config import load_config
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


# Trials of a few seconds each, so a kill after the first lands with most still to train.
SLOW_SEARCH = {
    "rounds": 2,
    "trials_per_round": 4,
    "top_k": 1,
    "seed": 0,
    "fixed": {"max_epochs": 60, "patience": 60},
}
