"""`driftune deploy`: a project's deployments on a work pool, per project, beside `serve`.

Against the session's real Prefect server: deployments are created, read back and refused for
real. (A worker running them end to end needs a worker process: the team-server suite's part.)
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import yaml
from prefect import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from typer.testing import CliRunner

from flows.cli.app import app
from flows.deployments import KINDS, deployment_name
from tests.flow_tests.projects import make_project

runner = CliRunner()
FLOWS = {"drift-check": "check-drift", "retune-scheduled": "retune", "retune": "retune"}


def _project(root: Path, name: str) -> Path:
    config = make_project(root)
    raw = yaml.safe_load(config.read_text())
    raw["name"] = name
    config.write_text(yaml.safe_dump(raw))
    return config


@pytest.fixture
def pool(prefect_server: None) -> str:
    name = f"pool-{uuid.uuid4().hex[:8]}"
    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name=name, type="process"))
    return name


def _deployed(project: str) -> dict[str, object]:
    with get_client(sync_client=True) as client:
        return {
            kind: client.read_deployment_by_name(f"{FLOWS[kind]}/{deployment_name(kind, project)}")
            for kind in KINDS
        }


def test_two_projects_deploy_side_by_side_on_one_pool(tmp_path: Path, pool: str) -> None:
    first, second = f"a{uuid.uuid4().hex[:6]}", f"b{uuid.uuid4().hex[:6]}"
    configs = {first: _project(tmp_path / "one", first), second: _project(tmp_path / "two", second)}
    for config in configs.values():
        result = runner.invoke(app, ["deploy", "--pool", pool, "-c", str(config)])
        assert result.exit_code == 0, result.output
    for project, config in configs.items():
        deployments = _deployed(project)
        for kind, deployment in deployments.items():
            assert deployment.work_pool_name == pool  # type: ignore[attr-defined]
            # A module path and no pull step: any machine with driftune installed runs it.
            assert ":" not in deployment.entrypoint  # type: ignore[attr-defined]
            assert deployment.entrypoint.startswith("flows.")  # type: ignore[attr-defined]
            assert not deployment.pull_steps  # type: ignore[attr-defined]
            request = deployment.parameters["request"]  # type: ignore[attr-defined]
            assert request["config_path"] == str(config.resolve()), (kind, request)
        assert deployments["retune-scheduled"].parameters["request"]["trigger"] == "schedule"  # type: ignore[attr-defined]


def test_serve_refuses_to_replace_a_deployment_on_a_work_pool(
    tmp_path: Path, pool: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: list[object] = []
    monkeypatch.setattr("flows.deployments.serve", lambda *deployments: served.extend(deployments))
    project = f"c{uuid.uuid4().hex[:6]}"
    config = _project(tmp_path, project)
    assert runner.invoke(app, ["deploy", "--pool", pool, "-c", str(config)]).exit_code == 0
    result = runner.invoke(app, ["serve", "-c", str(config)])
    assert result.exit_code == 1 and "work pool" in result.output, result.output
    assert "Traceback" not in result.output and served == []
    assert all(d.work_pool_name == pool for d in _deployed(project).values())  # type: ignore[attr-defined]


def test_deploy_to_a_pool_that_does_not_exist_is_one_line(
    tmp_path: Path, prefect_server: None
) -> None:
    config = _project(tmp_path, f"d{uuid.uuid4().hex[:6]}")
    result = runner.invoke(app, ["deploy", "--pool", "no-such-pool", "-c", str(config)])
    assert result.exit_code == 1 and "no work pool 'no-such-pool'" in result.output
