"""Trial runs: one MLflow child run per trial, logged idempotently from any thread or process.

A trial run is created with ``MlflowClient.create_run`` and the ``mlflow.parentRunId`` tag set to
the search run's id, never through the fluent API's thread-local active run. Its ``trial_key``
tag (``<search run id>:<trial index>``) makes logging idempotent: a retried task or a resumed
search that logs the same trial again gets the existing run back. The exact TrialResult travels
as ``trial.json``, so a resumed search rebuilds its history from the store.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, Run

from flows import failpoints
from models.search.trials import TrialResult

TrialSet = Mapping[int, TrialResult]
TRIAL_FILE = "trial.json"
DECISIONS_FILE = "panda_decisions.json"
CURVES = ("train_loss", "val_loss", "val_accuracy", "learning_rate")
BATCH_LIMIT = 1000  # metrics and params per log_batch call: MLflow's documented maximum
# Statuses only log_trial sets, after everything is logged: a RUNNING or KILLED run with a
# trial key is the remains of an attempt that never finished.
TERMINAL = ("FINISHED", "FAILED")


def trial_key(search_run_id: str, index: int) -> str:
    return f"{search_run_id}:{index}"


def as_trial_set(results: TrialSet | Sequence[TrialResult]) -> dict[int, TrialResult]:
    """Results by the trial index each one carries."""
    trials = results.values() if isinstance(results, Mapping) else results
    return {result.index: result for result in trials}


def log_trial(
    client: MlflowClient,
    search_run_id: str,
    index: int,
    result: TrialResult,
    *,
    strategy: str = "",
    experiment_id: str | None = None,
    fresh_search: bool = False,
) -> str:
    """Log one trial as a child run of the search; returns its run id.

    Idempotent by ``trial_key``: a finished run with the key is returned as it is. A run with
    the key still RUNNING (or KILLED) is the remains of an attempt that crashed mid-way; it is
    deleted and the trial logged afresh. Should two attempts race, the older run wins and the
    other deletes itself, so a key never keeps two runs.

    ``experiment_id`` (the search run's) spares looking it up. ``fresh_search`` says the search
    run was opened by this retune, so only this retune's own attempts can hold the key: the
    lookup before the create is skipped, and the check after it also deletes the remains of an
    earlier attempt (a retried task's first try) besides keeping the oldest finished run.
    """
    key = trial_key(search_run_id, index)
    if experiment_id is None:
        experiment_id = client.get_run(search_run_id).info.experiment_id
    if not fresh_search:
        existing = _runs_with_key(client, experiment_id, key)
        finished = [run for run in existing if run.info.status in TERMINAL]
        if finished:
            return str(finished[0].info.run_id)
        for stale in existing:
            client.delete_run(stale.info.run_id)
    tags = {
        "mlflow.parentRunId": search_run_id,
        "trial_key": key,
        "trial_index": str(index),
        "trial_status": result.status,
        "round": str(result.round),
        "strategy": strategy,
    }
    tags.update(_fidelity(result))
    if result.status == "pruned":  # a healthy run stopped early: FINISHED, with the rung's word
        tags["pruned_reason"] = result.error[:5000]
    elif not result.ok:
        tags["failure_reason"] = result.error[:5000]
    name = f"trial-{index:03d}-r{result.round}"
    run = client.create_run(experiment_id, run_name=name, tags=tags)
    run_id = str(run.info.run_id)
    _log_contents(client, run_id, result, strategy)
    client.set_terminated(run_id, "FAILED" if result.broken else "FINISHED")
    kept = _keep_oldest(client, experiment_id, key, run, remove_earlier=fresh_search)
    failpoints.reached("after-trial")
    return kept


def _log_contents(client: MlflowClient, run_id: str, result: TrialResult, strategy: str) -> None:
    params = {**result.params, "seed": result.seed, "round": result.round, **_fidelity(result)}
    if strategy:
        params["strategy"] = strategy
    metrics = _metrics(result)
    # Params share the first call with as many metrics as fit: every call is a commit.
    first = BATCH_LIMIT - len(params)
    client.log_batch(
        run_id, metrics=metrics[:first], params=[Param(k, str(v)) for k, v in params.items()]
    )
    for start in range(first, len(metrics), BATCH_LIMIT):
        client.log_batch(run_id, metrics=metrics[start : start + BATCH_LIMIT])
    client.log_text(run_id, json.dumps(result.to_dict(), default=_plain), TRIAL_FILE)
    decisions = result.extras.get("decisions")
    if decisions:
        client.log_table(run_id, data=pd.DataFrame(list(decisions)), artifact_file=DECISIONS_FILE)


def _fidelity(result: TrialResult) -> dict[str, str]:
    """The rows and epochs the trial trained at (models.search.fidelity), as params and tags."""
    fidelity = result.extras.get("fidelity")
    if not fidelity:
        return {}
    return {"fidelity_rows": str(fidelity["rows"]), "fidelity_epochs": str(fidelity["epochs"])}


def _metrics(result: TrialResult) -> list[Metric]:
    """Per-epoch curves at steps 0..n-1, then the final metrics at step n (after training).

    The final ``val_accuracy`` (best weights) shares its key with the curve, so it is the
    value MLflow's run table shows as the latest.
    """
    now = int(time.time() * 1000)
    curves = {name: result.curves.get(name, ()) for name in CURVES}
    n_epochs = max((len(values) for values in curves.values()), default=0)
    final = {**result.metrics}
    final.setdefault("epochs", float(len(curves["train_loss"])))
    final.setdefault("train_seconds", float(result.duration_s))
    points = [
        Metric(name, float(value), now, step)
        for name, values in curves.items()
        for step, value in enumerate(values)
    ]
    points += [Metric(name, float(value), now + 1, n_epochs) for name, value in final.items()]
    return points


def _keep_oldest(
    client: MlflowClient, experiment_id: str, key: str, ours: Run, *, remove_earlier: bool
) -> str:
    """The oldest finished run with the key: ours, or another one, and then ours is deleted.

    With ``remove_earlier``, runs with the key that never finished and started before ours
    (what an earlier, interrupted attempt of this retune left) are deleted too.
    """
    run_id = str(ours.info.run_id)
    runs = _runs_with_key(client, experiment_id, key)
    if remove_earlier:
        for stale in runs:
            if stale.info.status not in TERMINAL and _order(stale) < _order(ours):
                client.delete_run(stale.info.run_id)
    finished = [r for r in runs if r.info.status in TERMINAL]
    oldest = min(finished, key=_order, default=None)
    if oldest is None or oldest.info.run_id == run_id:
        return run_id
    client.delete_run(run_id)
    return str(oldest.info.run_id)


def _order(run: Run) -> tuple[int, str]:
    return (run.info.start_time, run.info.run_id)


def find_trial_run_id(client: MlflowClient, search_run_id: str, index: int) -> str | None:
    """The run id of a logged trial, or None."""
    experiment_id = client.get_run(search_run_id).info.experiment_id
    runs = _runs_with_key(client, experiment_id, trial_key(search_run_id, index))
    finished = [run for run in runs if run.info.status in TERMINAL]
    return str(finished[0].info.run_id) if finished else None


def find_logged_trials(client: MlflowClient, search_run_id: str) -> dict[int, TrialResult]:
    """The finished trials of a search, rebuilt exactly from their runs, by trial index."""
    experiment_id = client.get_run(search_run_id).info.experiment_id
    runs = all_runs(client, [experiment_id], f"tags.mlflow.parentRunId = '{search_run_id}'")
    found: dict[int, TrialResult] = {}
    with tempfile.TemporaryDirectory(prefix="driftune-trials-") as folder:
        for run in runs:
            index = run.data.tags.get("trial_index")
            if run.info.status not in TERMINAL or index is None or int(index) in found:
                continue
            path = client.download_artifacts(run.info.run_id, TRIAL_FILE, folder)
            result = TrialResult.from_dict(json.loads(Path(path).read_text()))
            # A trial.json from before trials carried their index has the default, 0.
            found[int(index)] = dataclasses.replace(result, index=int(index))
    return dict(sorted(found.items()))


def all_runs(client: MlflowClient, experiment_ids: Sequence[str], filter_string: str) -> list[Run]:
    """Every active run matching the filter, oldest first, across result pages."""
    found: list[Run] = []
    token = None
    while True:
        page = client.search_runs(
            list(experiment_ids),
            filter_string=filter_string,
            max_results=1000,
            order_by=["attributes.start_time ASC"],
            page_token=token,
        )
        found.extend(page)
        token = page.token
        if not token:
            return found


def _runs_with_key(client: MlflowClient, experiment_id: str, key: str) -> list[Run]:
    return all_runs(client, [experiment_id], f"tags.trial_key = '{key}'")


def _plain(value: Any) -> Any:
    """JSON for numpy scalars and arrays and other sequences in a trial's extras."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    return str(value)


__all__ = [
    "TrialSet",
    "all_runs",
    "as_trial_set",
    "find_logged_trials",
    "find_trial_run_id",
    "log_trial",
    "trial_key",
]
