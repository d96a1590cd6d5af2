"""`driftune deploy` on the team's Prefect server, and a worker running what it deployed."""

from __future__ import annotations

from pathlib import Path

import pytest
from prefect.client.orchestration import SyncPrefectClient

from tests.server_tests.conftest import DeployedProject, Team
from tests.server_tests.projects import FLOWS, entrypoints, mlflow_client, team_project
from tests.server_tests.services import driftune, said, tail

pytestmark = [pytest.mark.servers, pytest.mark.slow]
KINDS = ("drift-check", "retune-scheduled", "retune")  # <kind>-<name>: README's contract


def test_a_deployed_retune_runs_on_the_worker_and_promotes_in_the_tracking_server(
    team: Team, deployed: DeployedProject
) -> None:
    flow_run = deployed.flow_run
    assert flow_run.state.is_completed(), (
        f"{flow_run.name}: {flow_run.state_name} {flow_run.state.message}; "
        f"the worker's log ends:\n{tail(team.services['worker'].log)}"
    )
    # The worker ran it: the run was handed to our worker on our pool, not run in-process.
    assert flow_run.work_pool_name == team.pool
    assert str(flow_run.id) in team.log_of("worker")

    client = mlflow_client(team.mlflow_url)
    versions = client.search_model_versions(f"name = '{deployed.name}'")
    assert deployed.versions_before == 0 and len(versions) == 1, versions
    champion = client.get_model_version_by_alias(deployed.name, "champion")
    assert champion.version == versions[0].version == "1"
    # The search behind it was the on-demand deployment's (trigger manual), logged on the server.
    search = client.get_experiment_by_name(f"{deployed.name}-search")
    assert search is not None
    (search_run,) = client.search_runs([search.experiment_id], "tags.`driftune.kind` = 'search'")
    assert search_run.data.params["trigger"] == "manual"
    # Nothing went to a local SQLite store beside the project.
    assert not (deployed.config.parent / ".driftune" / "mlflow.db").exists()


def _deployments(api_url: str, project: str) -> dict[str, object]:
    with SyncPrefectClient(api_url) as client:
        return {
            kind: client.read_deployment_by_name(f"{FLOWS[kind]}/{kind}-{project}")
            for kind in KINDS
        }


def test_two_projects_deploy_side_by_side_on_one_pool(
    team: Team, deployed: DeployedProject, tmp_path: Path
) -> None:
    second = team_project(tmp_path / "beta", "beta")
    done = driftune("deploy", "-c", str(second), "--pool", team.pool, env=team.cli_env())
    assert done.returncode == 0, said(done)

    configs = {deployed.name: deployed.config, "beta": second}
    seen: set[object] = set()
    for project, config in configs.items():
        deployments = _deployments(team.prefect_api_url, project)
        for kind, deployment in deployments.items():
            assert deployment.name == f"{kind}-{project}"  # type: ignore[attr-defined]
            assert deployment.work_pool_name == team.pool  # type: ignore[attr-defined]
            assert deployment.entrypoint == entrypoints()[FLOWS[kind]]  # type: ignore[attr-defined]
            request = deployment.parameters["request"]  # type: ignore[attr-defined]
            assert request["config_path"] == str(config.resolve()), (project, kind, request)
            seen.add(deployment.id)  # type: ignore[attr-defined]
        params = {k: d.parameters["request"] for k, d in deployments.items()}  # type: ignore[attr-defined]
        assert params["retune"]["trigger"] == "manual"
        assert params["retune-scheduled"]["trigger"] == "schedule"
        assert "trigger" not in params["drift-check"]
    assert len(seen) == 6  # six deployments, none shared

    with SyncPrefectClient(team.prefect_api_url) as client:
        on_pool = {d.name for d in client.read_deployments() if d.work_pool_name == team.pool}
    assert on_pool == {f"{k}-{p}" for k in KINDS for p in configs}
