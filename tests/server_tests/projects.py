"""Tiny projects for the team-server tests, and the Prefect and MLflow reads they check."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from mlflow import MlflowClient

from tests.flow_tests.projects import batch, land, make_project
from tests.server_tests.services import tail

# Each deployment kind's flow, as Prefect names it: "<flow>/<deployment>".
FLOWS = {"drift-check": "check-drift", "retune-scheduled": "retune", "retune": "retune"}


def _entrypoint(flow: Any) -> str:
    return f"{flow.fn.__module__}.{flow.fn.__name__}"


def entrypoints() -> dict[str, str]:
    """Module-path entrypoints of the two flows, wherever the code keeps them."""
    from flows.check_drift import check_drift
    from flows.retune import retune

    return {"check-drift": _entrypoint(check_drift), "retune": _entrypoint(retune)}


def team_project(root: Path, name: str, **sections: Any) -> Path:
    """A TINY_SEARCH project named ``name`` with one batch landed; extra config ``sections``."""
    config = make_project(root)
    raw = yaml.safe_load(config.read_text())
    raw.update(name=name, **sections)
    config.write_text(yaml.safe_dump(raw))
    land(root, "a-2024-01", batch(np.random.default_rng(0), "2024-01-01"))
    return config


def mlflow_client(url: str) -> MlflowClient:
    return MlflowClient(tracking_uri=url, registry_uri=url)


def run_deployment(api_url: str, full_name: str, worker_log: Path, timeout: float = 300) -> Any:
    """Start a run of ``full_name`` through the Prefect API; wait for the worker to finish it."""
    from prefect.client.orchestration import SyncPrefectClient

    with SyncPrefectClient(api_url) as client:
        deployment = client.read_deployment_by_name(full_name)
        flow_run = client.create_flow_run_from_deployment(deployment.id)
        deadline = time.monotonic() + timeout
        while True:
            flow_run = client.read_flow_run(flow_run.id)
            if flow_run.state is not None and flow_run.state.is_final():
                return flow_run
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"flow run {flow_run.name} of {full_name} still {flow_run.state_name} after "
                    f"{timeout:.0f} s; the worker's log ends:\n{tail(worker_log)}"
                )
            time.sleep(1)
