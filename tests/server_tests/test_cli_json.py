"""The CLI's --json documents against the team's servers: one document on stdout, nothing else.

On project ``alpha``, which the worker retuned (``deployed``); `tune --json` is the Dask test's.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from tests.flow_tests.projects import batch, land
from tests.server_tests.conftest import DeployedProject, Team
from tests.server_tests.projects import mlflow_client
from tests.server_tests.services import driftune, said

pytestmark = [pytest.mark.servers, pytest.mark.slow]


def _document(team: Team, *args: str, code: int = 0) -> dict[str, Any]:
    done = driftune(*args, "--json", env=team.cli_env())
    assert done.returncode == code, said(done)
    document: dict[str, Any] = json.loads(done.stdout)  # the whole of stdout, or it raises
    return document


def test_check_drift_and_status_print_one_document_each(
    team: Team, deployed: DeployedProject
) -> None:
    config, root = str(deployed.config), deployed.config.parent
    land(root, "b-2024-02", batch(np.random.default_rng(1), "2024-02-01", shift=2.0))
    checked = _document(team, "check-drift", "-c", config, "--no-retune", "--exit-code", code=3)
    assert checked["check"]["drifted"] is True, checked
    assert checked["check"]["batch_id"] == "b-2024-02.csv"
    assert checked["check"]["report"]["features"], checked

    status = _document(team, "status", "-c", config)
    assert status["champion"]["version"] == "1", status  # the worker's promotion, read back
    assert [c["batch_id"] for c in status["checks"]] == ["b-2024-02.csv"]
    assert [r["event"] for r in status["audit"]] == ["promote"]

    # The check is on the tracking server, not in a local store beside the project.
    client = mlflow_client(team.mlflow_url)
    monitoring = client.get_experiment_by_name(f"{deployed.name}-monitoring")
    assert monitoring is not None and client.search_runs([monitoring.experiment_id])
    assert not (root / ".driftune" / "mlflow.db").exists()
