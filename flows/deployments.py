"""A project's three deployments, served in one process (`serve`) or put on a work pool (`deploy`).

Each name carries the project (``drift-check-<name>``, ``retune-scheduled-<name>``,
``retune-<name>``), so two projects never share one. ``serve_all`` runs them in this process;
``deploy_to_pool`` registers them on a work pool with module-path entrypoints (``flows.retune.
retune``), so a worker runs them wherever driftune is installed, from any checkout or none, with
no pull step. ``serve`` refuses to replace a deployment that lives on a work pool: it was made by
``deploy`` (or ``prefect deploy``), and serving would strip its pool and pull steps.
deploy/prefect.yaml declares the same deployments for the shipped image.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import get_client, serve
from prefect.exceptions import ObjectNotFound
from prefect.schedules import Cron
from prefect.types.entrypoint import EntrypointType

from data.errors import ConfigError
from flows.check_drift import check_drift
from flows.config import ProjectConfig
from flows.retune import retune

KINDS = ("drift-check", "retune-scheduled", "retune")


def deployment_name(kind: str, project: str) -> str:
    return f"{kind}-{project}"


def build_deployments(
    config_path: str | Path,
    config: ProjectConfig,
    *,
    entrypoint_type: EntrypointType = EntrypointType.FILE_PATH,
) -> list[Any]:
    """drift-check (cron), retune-scheduled (cron, trigger schedule) and retune (on demand)."""
    path = str(Path(config_path).resolve())
    timezone = config.schedules.timezone
    common: dict[str, Any] = {"entrypoint_type": entrypoint_type, "tags": ["driftune", config.name]}
    return [
        check_drift.to_deployment(
            name=deployment_name("drift-check", config.name),
            schedule=Cron(config.schedules.drift_check, timezone=timezone),
            parameters={"request": {"config_path": path}},
            description=f"{config.name}: check the newest batch for drift; retune on drift",
            **common,
        ),
        retune.to_deployment(
            name=deployment_name("retune-scheduled", config.name),
            schedule=Cron(config.schedules.retune, timezone=timezone),
            parameters={"request": {"config_path": path, "trigger": "schedule"}},
            description=f"{config.name}: re-test the hyperparameters even without drift",
            **common,
        ),
        retune.to_deployment(
            name=deployment_name("retune", config.name),
            parameters={"request": {"config_path": path, "trigger": "manual"}},
            description=f"{config.name}: retune on demand",
            **common,
        ),
    ]


def serve_all(config_path: str | Path, config: ProjectConfig) -> None:
    """Run every deployment's schedule in this process until interrupted."""
    deployments = build_deployments(config_path, config)
    for deployment in deployments:
        pool = _work_pool_of(deployment.full_name)
        if pool is not None:
            raise ConfigError(
                f"deployment {deployment.full_name} runs on work pool {pool!r} (made by "
                "`driftune deploy`); serving would replace it. Start a worker on that pool, "
                f"or delete the deployment first (prefect deployment delete {deployment.full_name})"
            )
    serve(*deployments)


def deploy_to_pool(config_path: str | Path, config: ProjectConfig, pool: str) -> list[str]:
    """Register the project's deployments on ``pool``; returns their full names."""
    _check_pool(pool)
    deployments = build_deployments(config_path, config, entrypoint_type=EntrypointType.MODULE_PATH)
    for deployment in deployments:
        deployment.apply(work_pool_name=pool)
    return [str(d.full_name) for d in deployments]


def _work_pool_of(full_name: str) -> str | None:
    with get_client(sync_client=True) as client:
        try:
            found = client.read_deployment_by_name(full_name)
        except ObjectNotFound:
            return None
    return found.work_pool_name


def _check_pool(pool: str) -> None:
    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(pool)
        except ObjectNotFound:
            raise ConfigError(
                f"no work pool {pool!r} on the Prefect server: create it "
                f"(prefect work-pool create {pool} --type process), then deploy again"
            ) from None
