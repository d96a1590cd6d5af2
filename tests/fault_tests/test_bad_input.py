"""Every kind of bad input through the real CLI: one line naming it, exit 1, nothing changed.

A module-scoped project is tuned once, so a champion (version 1) and its runs exist; each case
points its own config at that store. After each case: exit code 1, exactly one non-empty line of
output (stdout and stderr together) naming the file, column or key, no traceback, the same
champion and the same runs and versions in the store, and the case's own files untouched.

Config cases fail at load and data cases before training; check-drift and predict cases
(``Case.needs_champion``) get past the store read and meet the bad batch or file there.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient
from mlflow.entities import ViewType
from typer.testing import CliRunner

from flows.cli.app import app
from flows.config import load_config
from flows.store.project import open_store
from flows.store.registry import champion
from tests.fault_tests.bad_inputs import CASES, GOOD, Case, write_case
from tests.flow_tests.projects import batch, land, make_project

DRIFTUNE = Path(sys.executable).with_name("driftune")
TIMEOUT_S = 300


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, prefect_server: None) -> Iterator[str]:
    """A project tuned once through the CLI; yields its store's URI, champion version 1."""
    root = tmp_path_factory.mktemp("champion")
    config = make_project(root)
    land(root, GOOD.removesuffix(".csv"), batch(np.random.default_rng(0), "2024-01-01"))
    result = CliRunner().invoke(app, ["tune", "--config", str(config)])
    assert result.exit_code == 0, result.output
    store = open_store(load_config(config))
    yield store.tracking_uri


@pytest.fixture(scope="module")
def process_env(store: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of a `driftune` subprocess: the session's Prefect server, quiet."""
    from prefect.settings import PREFECT_API_URL

    return {
        **os.environ,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PREFECT_HOME": str(tmp_path_factory.mktemp("prefect-home")),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }


def snapshot(uri: str) -> tuple[str | None, int, int]:
    """The champion's version, how many runs (deleted ones too) and model versions exist."""
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiments = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
    runs = client.search_runs(experiments, run_view_type=ViewType.ALL, max_results=50_000)
    versions = client.search_model_versions("name = 'toy'")
    info = champion(_store(uri, client))
    return (info.version if info else None), len(runs), len(versions)


def _store(uri: str, client: MlflowClient):  # type: ignore[no-untyped-def]
    from flows.store.handle import Store
    from flows.store.tracking import TrackingConfig

    return Store(client, TrackingConfig(uri, None, "toy"))


# driftune's own log of library warnings (flows/cli/quiet.py): a record of the refused command,
# not a user's file or any of the project's state.
PROJECT_LOG = Path(".driftune") / "driftune.log"


def contents(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.relative_to(folder) != PROJECT_LOG
    }


def arguments(case: Case, config: Path) -> list[str]:
    if case.predict is not None:
        source, target = (str(config.parent / name) for name in case.predict)
        return ["predict", source, target, "--config", str(config), *case.flags]
    extra = ["--no-retune"] if case.command == "check-drift" else []
    return [case.command, "--config", str(config), *extra]


def run(case: Case, args: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """Exit code and the whole output, stdout and stderr together."""
    if case.via == "process":
        done = subprocess.run(
            [str(DRIFTUNE), *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=TIMEOUT_S,
        )
        return done.returncode, done.stdout
    result = CliRunner().invoke(app, args)
    # In-process, an unexpected exception ends the command without printing its traceback:
    # only a SystemExit (the one-line error path) counts as handled.
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, result.output


def test_the_matrix_covers_at_least_40_kinds() -> None:
    assert len(CASES) >= 40 and len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_bad_input_gets_one_line_exit_1_and_changes_nothing(
    case: Case, store: str, process_env: dict[str, str], tmp_path: Path
) -> None:
    config = write_case(case, tmp_path, store)
    args = arguments(case, config)
    before, files = snapshot(store), contents(tmp_path)
    code, output = run(case, args, tmp_path, process_env)
    lines = [line for line in output.splitlines() if line.strip()]
    assert code == 1, output
    assert len(lines) == 1, output
    assert "Traceback" not in output
    for name in case.names:
        assert name in lines[0], (name, lines[0])
    assert snapshot(store) == before
    assert before[0] == "1"
    assert contents(tmp_path) == files
