"""@flow check_drift: newest unseen batch -> drift report -> MLflow -> retune when drifted.

Only whole batch files are taken, and a batch older than the champion's data or a copy of one
already checked is refused or skipped (flows/intake.py, data/intake.py). When several batches
landed since the last check, only the newest is checked: it is what the
champion faces now, and a retune it starts trains on the recent window. The batches it passes
over are named in the outcome and never checked later, so checks only move forward in time.

A batch is checked once, even when two checks race (flows/store/drift_checks.py). A check
whose retune was killed before it ended is resumed by the next check-drift, which would
otherwise find nothing new: the retune's outcome is recorded on the check run when it ends,
whatever it is.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from prefect import flow, get_run_logger
from pydantic import BaseModel, ConfigDict

from data.loading import survey_sources
from flows import failpoints, reports, tasks
from flows.config import ProjectConfig, load_config
from flows.intake import NewBatches, champion_data_end, newest_unseen
from flows.locking import RetuneBusyError
from flows.outcomes import DriftCheckOutcome, RetuneOutcome, RetuneRefused
from flows.retune import RetuneRequest, retune
from flows.store import drift_checks as monitoring
from flows.store import searches
from flows.store.handle import Store
from flows.store.project import open_store
from flows.store.registry import ChampionInfo, NoChampionError
from models.errors import SearchError


class DriftCheckRequest(BaseModel):
    """Which project to check, and whether drift may start a retune."""

    model_config = ConfigDict(extra="forbid")

    config_path: str
    start_retune: bool = True


@flow(name="check-drift", log_prints=False)
def check_drift(request: DriftCheckRequest) -> DriftCheckOutcome:
    """Check the newest batch past every one seen; start a retune (trigger drift) on drift."""
    config = load_config(request.config_path)
    logger = get_run_logger()
    store = open_store(config)
    client = store.client
    champion = tasks.read_champion(store)
    if champion is None:
        raise NoChampionError(
            f"{config.name!r} has no champion to check against: run `driftune tune` first"
        )
    found = _new_batches(config, store, champion)
    batch, passed_over = found.newest, found.passed_over
    for line in (*found.waiting, *found.skipped):
        logger.warning("not taken: %s", line)
    if batch is None:
        return _nothing_new(request, config, store, found)
    report = tasks.drift_report(config, store, champion, batch)
    drifted = report.drifted or bool(
        config.drift.accuracy_drop and report.performance and report.performance.drifted
    )
    failpoints.reached("before-log-check")
    run_id, ours = tasks.log_drift(
        store,
        batch_id=batch.id,
        report=report,
        drifted=drifted,
        champion_version=champion.version,
        retune_requested=request.start_retune,
        batch_sha256=batch.sha256,
    )
    outcome = DriftCheckOutcome(
        status="checked" if ours else "checked elsewhere",
        batch_id=batch.id,
        passed_over=tuple(passed_over),
        skipped=found.skipped,
        waiting=found.waiting,
        drifted=drifted,
        drift_run_id=run_id,
        report=report,
    )
    if not ours:  # another check of this batch won the race: it reports and retunes
        logger.info("batch %s of %s was checked by run %s", batch.id, config.name, run_id)
        return outcome
    reports.publish_drift(config.name, batch.id, report, drifted)
    logger.info("batch %s of %s: %s", batch.id, config.name, "drift" if drifted else "no drift")
    if passed_over:
        logger.info("passed over older unchecked batches: %s", ", ".join(passed_over))
    if drifted and request.start_retune:
        retuned = _start_retune(request.config_path, client, run_id)
        return dataclasses.replace(outcome, retune=retuned)
    return outcome


def _new_batches(config: ProjectConfig, store: Store, champion: ChampionInfo) -> NewBatches:
    """The newest whole batch no check has seen, newer than the champion's data, not a copy."""
    checked = monitoring.checked_batches(store)
    seen = set(checked) | set(searches.window_batches(store.client, champion.search_run_id))
    spec = config.spec()
    return newest_unseen(
        spec,
        survey_sources(spec),
        seen=seen,
        checked_sha256={sha: batch_id for batch_id, sha in checked.items() if sha},
        champion_end=champion_data_end(searches.window_end(store.client, champion)),
    )


def _nothing_new(
    request: DriftCheckRequest, config: ProjectConfig, store: Store, found: NewBatches
) -> DriftCheckOutcome:
    """Every batch is checked; resume the retune of a check that was killed while it ran."""
    pending = monitoring.pending_retune(store) if request.start_retune else None
    if pending is None:
        get_run_logger().info("nothing new: every whole batch of %s is checked", config.name)
        return DriftCheckOutcome(status="nothing new", skipped=found.skipped, waiting=found.waiting)
    get_run_logger().info("resuming the retune drift check %s started", pending)
    retuned = _start_retune(request.config_path, store.client, pending)
    return DriftCheckOutcome(status="resumed", drifted=True, drift_run_id=pending, retune=retuned)


def _start_retune(
    config_path: str, client: Any, drift_run_id: str
) -> RetuneOutcome | RetuneRefused:
    """The retune a drifted check starts; its outcome is recorded on the check either way."""
    request = RetuneRequest(config_path=config_path, trigger="drift", drift_run_id=drift_run_id)
    try:
        summary = retune(request)
    except RetuneBusyError as busy:
        get_run_logger().warning(str(busy))
        monitoring.record_retune_outcome(client, drift_run_id, f"busy: {busy}")
        return RetuneRefused(str(busy))
    except SearchError as failed:
        monitoring.record_retune_outcome(client, drift_run_id, f"failed: {failed}")
        raise SearchError(
            f"{failed} (the drift check is recorded as run {drift_run_id}; once the cause is "
            "fixed, retune by hand with `driftune tune`)",
            errors=failed.errors,
            results=failed.results,
        ) from failed
    verdict = "promoted" if summary.promoted else "refused"
    monitoring.record_retune_outcome(client, drift_run_id, f"{verdict} v{summary.version}")
    return summary
