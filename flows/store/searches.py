"""What a new search needs from earlier ones: a run to resume, a warm start, the champion's config.

A search is identified by its ``search_key``: the project, the training data's hash and the
search settings (strategy, seed, space, budget). A retune killed anywhere before its verdict is
carried out (the search run stays RUNNING until then) and started again finds its unfinished run
by that key, takes the warm start recorded on it, and skips the trials already logged there. The
key leaves the warm start out on purpose: a kill after the alias moved changes the champion, and
so the warm start a rerun would compute, but the rerun must still find the same search.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.entities import RunTag

from data.drift.profile import ReferenceProfile
from data.window import TrainingData
from flows.config import ProjectConfig
from flows.cores import threads_per_trial
from flows.store.handle import Store
from flows.store.registry import ChampionInfo
from flows.store.tracking import all_runs, find_logged_trials, start_search_run
from flows.store.trials import find_trial_run_id
from models.ensemble import Members
from models.search.trials import TrialResult
from models.window_choice import WindowChoice

PROFILE_FILE = "reference_profile.json"
WINDOW_TAG = "window_batches"
CHAMPION_AT_START_TAG = "driftune.champion_at_start"
WARM_START_TAG = "warm_start_configs"
ENSEMBLE_TAG = "ensemble_members"


@dataclass(frozen=True)
class SearchHandle:
    """An open search run and the trials it already holds (empty for a fresh search)."""

    run_id: str
    completed: Mapping[int, TrialResult]
    resumed: bool
    initial: tuple[Mapping[str, Any], ...] = ()


def search_key(config: ProjectConfig, data_sha256: str) -> str:
    """Same project, data and search settings: the same search."""
    search = config.search.model_dump(mode="json")
    payload = json.dumps([config.name, data_sha256, search], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def open_search(
    store: Store,
    config: ProjectConfig,
    data: TrainingData,
    *,
    trigger: str,
    initial: list[dict[str, Any]],
    drift_run_id: str | None,
    warm_start_run_id: str | None,
    champion_version: str = "",
) -> SearchHandle:
    """Resume the unfinished search with the same key, or start a new one with ``initial``.

    A new search records ``champion_version``, the champion as it began ('' for none), so its
    gate can tell when a person moved the champion while it ran (flows/candidate.py).
    """
    client = store.client
    key = search_key(config, data.sha256)
    unfinished = _unfinished_search(store, key)
    if unfinished is not None:
        client.update_run(unfinished, status="RUNNING")
        recorded = json.loads(client.get_run(unfinished).data.tags.get(WARM_START_TAG, "[]"))
        return SearchHandle(
            unfinished,
            find_logged_trials(client, unfinished),
            resumed=True,
            initial=tuple(recorded),
        )
    run_id = start_search_run(
        store,
        trigger=trigger,
        strategy=config.search.strategy,
        seed=config.search.seed,
        data_sha256=data.sha256,
        n_rows=len(data.window),
        time_range=data.time_range,
        space_dict=config.search.plan.space.to_dict(),
        drift_run_id=drift_run_id,
        warm_start_run_id=warm_start_run_id,
        extra_tags={
            "search_key": key,
            WINDOW_TAG: json.dumps(list(data.batch_ids)),
            WARM_START_TAG: json.dumps(initial, default=str),
            "torch_threads": str(threads_per_trial(config)),
            CHAMPION_AT_START_TAG: champion_version,
        },
    )
    return SearchHandle(run_id, {}, resumed=False, initial=tuple(initial))


def _unfinished_search(store: Store, key: str) -> str | None:
    experiment_id = store.experiment_id("search")
    runs = all_runs(store.client, [experiment_id], f"tags.search_key = '{key}'")
    unfinished = [r for r in runs if r.info.status != "FINISHED"]
    return str(unfinished[-1].info.run_id) if unfinished else None


def latest_finished_search(store: Store) -> str | None:
    """The newest search that finished: the warm start's source."""
    experiment_id = store.experiment_id("search")
    runs = all_runs(
        store.client,
        [experiment_id],
        "tags.`driftune.kind` = 'search' and attributes.status = 'FINISHED'",
    )
    return str(runs[-1].info.run_id) if runs else None


def champion_params(client: MlflowClient, champion: ChampionInfo | None) -> dict[str, Any] | None:
    """The configuration of the champion's winning trial, read back from its search run."""
    if champion is None or not champion.search_run_id:
        return None
    run = client.get_run(champion.search_run_id)
    best_index = run.data.tags.get("best_trial_index")
    if best_index is None:
        return None
    trial = find_logged_trials(client, champion.search_run_id).get(int(best_index))
    return dict(trial.params) if trial is not None else None


def record_window(client: MlflowClient, run_id: str, choice: WindowChoice) -> None:
    """The window length the search trained on, and why, as the search run's tags."""
    scores = {str(k): round(v, 4) for k, v in choice.accuracy.items()}
    tags = {"window_periods": str(choice.periods), "window_choice": json.dumps(scores)}
    client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])


def log_reference_profile(client: MlflowClient, run_id: str, profile: ReferenceProfile) -> None:
    """Keep what a drift check needs of the training data beside the search that used it."""
    client.log_text(run_id, profile.to_json(), PROFILE_FILE)


def load_reference_profile(client: MlflowClient, champion: ChampionInfo) -> ReferenceProfile:
    """The champion's reference profile: a small JSON, never the reference table itself."""
    return ReferenceProfile.from_json(
        _read_text_artifact(client, champion.search_run_id, PROFILE_FILE)
    )


def window_end(client: MlflowClient, champion: ChampionInfo) -> str:
    """The newest row time the champion's search trained on ('' when unknown or untimed)."""
    if not champion.search_run_id:
        return ""
    return str(client.get_run(champion.search_run_id).data.tags.get("time_end", ""))


def window_batches(client: MlflowClient, search_run_id: str) -> list[str]:
    """The batch ids a search trained on (so a drift check skips them)."""
    tags = client.get_run(search_run_id).data.tags
    return list(json.loads(tags.get(WINDOW_TAG, "[]")))


def _read_text_artifact(client: MlflowClient, run_id: str, path: str) -> str:
    with tempfile.TemporaryDirectory(prefix="driftune-artifact-") as folder:
        local = client.download_artifacts(run_id, path, folder)
        return Path(local).read_text()


def record_ensemble(store: Store, run_id: str, members: Members) -> None:
    """The trials the candidate averages, as the search run's ``ensemble_members`` tag and each
    member trial run's ``ensemble_weight`` tag (a column to sort by in the MLflow UI)."""
    client = store.client
    listed = [
        {"trial": trial.index, "weight": round(weight, 4), "params": dict(trial.params)}
        for trial, weight in members
    ]
    client.set_tag(run_id, ENSEMBLE_TAG, json.dumps(listed, default=str))
    for trial, weight in members:
        trial_run = find_trial_run_id(client, run_id, trial.index)
        if trial_run is not None:
            client.set_tag(trial_run, "ensemble_weight", f"{weight:.4f}")
