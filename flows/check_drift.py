"""@flow check_drift: newest unchecked batch -> drift report -> MLflow -> retune when drifted."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from pydantic import BaseModel, ConfigDict

from data.loading import Batch, batches
from flows import monitoring, reports, searches, tasks
from flows.config import ProjectConfig, load_config
from flows.locking import RetuneBusyError
from flows.project import open_store
from flows.registry import NoChampionError
from flows.retune import RetuneRequest, retune


class DriftCheckRequest(BaseModel):
    """Which project to check, and whether drift may start a retune."""

    model_config = ConfigDict(extra="forbid")

    config_path: str
    start_retune: bool = True


@flow(name="check-drift", log_prints=False)
def check_drift(request: DriftCheckRequest) -> dict[str, Any]:
    """Check the newest batch not yet checked; start a retune (trigger drift) when it drifted."""
    config = load_config(request.config_path)
    logger = get_run_logger()
    tracking, client = open_store(config)
    champion = tasks.read_champion(client, tracking)
    if champion is None:
        raise NoChampionError(
            f"{config.name!r} has no champion to check against: run `driftune tune` first"
        )
    skip = monitoring.checked_batches(client, tracking) | set(
        searches.window_batches(client, champion.search_run_id)
    )
    batch = _newest_unchecked(config, skip)
    if batch is None:
        logger.info("nothing new: every batch of %s is checked", config.name)
        return {"status": "nothing new", "drifted": False, "retune": None}
    report = tasks.drift_report(config, client, tracking, champion, batch)
    drifted = report.drifted or bool(
        config.drift.accuracy_drop and report.performance and report.performance.drifted
    )
    run_id = tasks.log_drift(
        client,
        tracking,
        batch_id=batch.id,
        report=report,
        drifted=drifted,
        champion_version=champion.version,
    )
    reports.publish_drift(config.name, batch.id, report)
    logger.info("batch %s of %s: %s", batch.id, config.name, "drift" if drifted else "no drift")
    outcome: dict[str, Any] = {
        "status": "checked",
        "batch_id": batch.id,
        "drifted": drifted,
        "drift_run_id": run_id,
        "report": report,
        "retune": None,
    }
    if drifted and request.start_retune:
        outcome["retune"] = _start_retune(request.config_path, run_id)
    return outcome


def _newest_unchecked(config: ProjectConfig, skip: set[str]) -> Batch | None:
    fresh = [b for b in batches(config.spec()) if b.id not in skip]
    return fresh[-1] if fresh else None


def _start_retune(config_path: str, drift_run_id: str) -> dict[str, Any]:
    try:
        return retune(
            RetuneRequest(config_path=config_path, trigger="drift", drift_run_id=drift_run_id)
        )
    except RetuneBusyError as busy:
        get_run_logger().warning(str(busy))
        return {"refused": str(busy)}
