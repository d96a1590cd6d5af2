"""MLflow adapter for drift checks: one run per check in ``<name>-monitoring``."""

from __future__ import annotations

import dataclasses
import json
import re
import tempfile
import time
from pathlib import Path

import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import Metric, Param

from data.contract import InputReport
from data.drift.detect import detect_drift, performance_drift
from data.drift.report import DriftReport
from data.errors import MissingColumnError
from data.loading import Batch
from data.preprocessing import features_and_labels
from data.schema import DatasetSpec
from flows.config import ProjectConfig
from flows.store.handle import Store
from flows.store.packaging import Scorer
from flows.store.registry import ChampionInfo, load_champion_model
from flows.store.searches import load_reference_profile
from flows.store.tracking import all_runs

_UNSAFE = re.compile(r"[^A-Za-z0-9_\-. /]")


def drift_report(
    config: ProjectConfig,
    store: Store,
    champion: ChampionInfo,
    batch: Batch,
) -> DriftReport:
    """The batch against the champion's reference profile, plus its accuracy when labelled.

    The batch's features are first held to the champion's data contract (a code ``21`` read
    from CSV is the champion's ``"21"``), so a change of file format is not drift; what the
    champion never saw is counted in the report's ``inputs`` and named in its notes.
    """
    profile = load_reference_profile(store.client, champion)
    _refuse_missing_features(batch, profile.features.all)
    model = load_champion_model(store)
    spec = config.spec()
    frame, inputs = conformed(model, batch, spec)
    settings = config.drift
    report = detect_drift(
        profile,
        frame,
        alpha=settings.alpha,
        correction=settings.correction,
        min_effect=settings.min_effect,
        seed=settings.seed,
        max_rows=settings.max_rows,
    )
    if inputs is not None:
        report = dataclasses.replace(
            report, inputs=inputs.to_dict(), notes=(*report.notes, *_outside(inputs))
        )
    if spec.label not in frame or frame[spec.label].isna().all():
        return report
    X, y = features_and_labels(frame, spec, profile.features)
    predicted = model.score_conformed(X)["prediction"]
    performance = performance_drift(
        y.to_numpy(),
        predicted.to_numpy(),
        baseline_accuracy=champion.holdout_metrics["accuracy"],
        n_baseline=int(champion.holdout_metrics.get("holdout_rows", len(y))),
        alpha=settings.alpha,
        min_drop=settings.min_accuracy_drop,
    )
    return dataclasses.replace(report, performance=performance)


BATCH_SHA256_TAG = "batch_sha256"


def _refuse_missing_features(batch: Batch, features: tuple[str, ...]) -> None:
    """A batch without a feature the champion reads: one line naming its file and the column."""
    missing = [column for column in features if column not in batch.frame.columns]
    if missing:
        more = f" (and {len(missing) - 1} more: {', '.join(missing[1:])})" if missing[1:] else ""
        raise MissingColumnError(
            f"the champion's feature is missing from this batch{more}",
            path=batch.source or batch.id,
            column=missing[0],
        )


def conformed(
    model: Scorer, batch: Batch, spec: DatasetSpec
) -> tuple[pd.DataFrame, InputReport | None]:
    """The batch with the champion's features held to its contract, and what it counted."""
    source = batch.source or f"{spec.path} (batch {batch.id})"
    features, inputs = model.conform(batch.frame, source=source)
    return batch.frame.assign(**{c: features[c] for c in features.columns}), inputs


def _outside(inputs: InputReport) -> list[str]:
    return [f"outside the champion's data contract: {line}" for line in inputs.findings()]


def checked_batches(store: Store) -> dict[str, str]:
    """Batch ids that already have a finished drift check, each with its rows' SHA-256 ('' when
    the check predates the tag)."""
    experiment_id = store.experiment_id("monitoring")
    runs = all_runs(store.client, [experiment_id], "attributes.status = 'FINISHED'")
    return {
        run.data.tags["batch_id"]: run.data.tags.get(BATCH_SHA256_TAG, "")
        for run in runs
        if "batch_id" in run.data.tags
    }


def drift_markdown(batch_id: str, report: DriftReport, drifted: bool) -> str:
    """The check's verdict and test table: the run's description and the Prefect artifact."""
    verdict = "**drift detected**" if drifted else "no drift"
    return f"### Batch {batch_id}: {verdict}\n\n{report.markdown()}"


def log_drift_check(
    store: Store,
    *,
    batch_id: str,
    report: DriftReport,
    drifted: bool,
    champion_version: str,
    retune_requested: bool = False,
    batch_sha256: str = "",
) -> tuple[str, bool]:
    """Record one check: verdict and batch as tags, every test as metrics, report and plot.

    Returns the check's run id and whether this call made it. A batch is checked once: a batch
    with a finished check returns that run, and when two checks of a batch race, the one created
    first wins and the other deletes its own run and returns the winner's (so only the winner
    goes on to start a retune).
    """
    client, experiment_id = store.client, store.experiment_id("monitoring")
    done = all_runs(
        client, [experiment_id], f"tags.batch_id = '{batch_id}' and attributes.status = 'FINISHED'"
    )
    if done:
        return str(done[0].info.run_id), False
    tags = {
        "driftune.kind": "drift-check",
        "batch_id": batch_id,
        BATCH_SHA256_TAG: batch_sha256,
        "champion_version": champion_version,
        "verdict": "drift" if drifted else "no drift",
        "retune_requested": str(drifted and retune_requested).lower(),
        "drifted_features": ", ".join(report.drifted_features)[:5000],
        "mlflow.note.content": drift_markdown(batch_id, report, drifted),
    }
    run = client.create_run(experiment_id, run_name=f"drift-{batch_id}", tags=tags)
    run_id = str(run.info.run_id)
    winner = _first_check(client, experiment_id, batch_id)
    if winner != run_id:
        client.delete_run(run_id)
        return winner, False
    try:
        client.log_batch(run_id, metrics=_metrics(report, drifted), params=_params(report))
        client.log_text(run_id, json.dumps(report.to_dict(), indent=2), "drift_report.json")
        client.log_text(run_id, report.summary(), "drift_summary.txt")
        with tempfile.TemporaryDirectory(prefix="driftune-drift-") as folder:
            client.log_artifact(run_id, str(report.plot(Path(folder) / "drift.png")))
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")
    return run_id, True


def _first_check(client: MlflowClient, experiment_id: str, batch_id: str) -> str:
    """Of the live checks of a batch, the one created first (ties: the smaller run id)."""
    runs = all_runs(client, [experiment_id], f"tags.batch_id = '{batch_id}'")
    live = [run for run in runs if run.info.status != "FAILED"]
    first = min(live, key=lambda run: (run.info.start_time, run.info.run_id))
    return str(first.info.run_id)


def _params(report: DriftReport) -> list[Param]:
    settings = {
        "alpha": report.alpha,
        "correction": report.correction,
        "min_effect": report.min_effect,
        "seed": report.seed,
        "reference_rows": report.sizes.reference_rows,
        "current_rows": report.sizes.current_rows,
    }
    return [Param(key, str(value)) for key, value in settings.items()]


def _metrics(report: DriftReport, drifted: bool) -> list[Metric]:
    now = int(time.time() * 1000)
    values: dict[str, float] = {
        "drifted": float(drifted),
        "n_drifted_features": float(len(report.drifted_features)),
    }
    for row in report.rows():
        name = _UNSAFE.sub("_", f"{row.feature}.{row.kind}")
        values[f"{name}.p_corrected"] = row.p_corrected
        values[f"{name}.effect"] = row.effect
    if report.performance is not None:
        values["champion_accuracy"] = report.performance.accuracy
        values["champion_baseline_accuracy"] = report.performance.baseline_accuracy
        values["accuracy_drop_p_value"] = report.performance.p_value
    return [Metric(k, float(v), now, 0) for k, v in values.items() if v == v]


RETUNE_OUTCOME_TAG = "retune_outcome"


def pending_retune(store: Store) -> str | None:
    """The newest drift check whose retune was started but has no recorded outcome.

    A check-drift killed while its retune ran leaves the batch checked, so no later check would
    start that retune again: the next check-drift resumes it instead (its search resumes too).
    """
    monitoring = store.experiment_id("monitoring")
    checks = store.client.search_runs(
        [monitoring],
        "attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not checks:
        return None
    tags = checks[0].data.tags
    if tags.get("retune_requested") != "true" or RETUNE_OUTCOME_TAG in tags:
        return None
    return str(checks[0].info.run_id)


def record_retune_outcome(client: MlflowClient, drift_run_id: str, outcome: str) -> None:
    client.set_tag(drift_run_id, RETUNE_OUTCOME_TAG, outcome[:5000])
