"""The three deployments, with their schedules, and ``serve()`` for the one-process mode.

deploy/prefect.yaml declares the same deployments for a work pool.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import serve
from prefect.schedules import Cron

from flows.check_drift import check_drift
from flows.config import ProjectConfig
from flows.retune import retune


def build_deployments(config_path: str | Path, config: ProjectConfig) -> list[Any]:
    """drift-check (cron), retune-scheduled (cron, trigger schedule) and retune (on demand)."""
    path = str(Path(config_path).resolve())
    timezone = config.schedules.timezone
    return [
        check_drift.to_deployment(
            name="drift-check",
            schedule=Cron(config.schedules.drift_check, timezone=timezone),
            parameters={"request": {"config_path": path}},
            description=f"{config.name}: check the newest batch for drift; retune on drift",
        ),
        retune.to_deployment(
            name="retune-scheduled",
            schedule=Cron(config.schedules.retune, timezone=timezone),
            parameters={"request": {"config_path": path, "trigger": "schedule"}},
            description=f"{config.name}: re-test the hyperparameters even without drift",
        ),
        retune.to_deployment(
            name="retune",
            parameters={"request": {"config_path": path, "trigger": "manual"}},
            description=f"{config.name}: retune on demand",
        ),
    ]


def serve_all(config_path: str | Path, config: ProjectConfig) -> None:
    """Run every deployment's schedule in this process until interrupted."""
    serve(*build_deployments(config_path, config))
