"""@flow retune: window -> search (resumable, warm-started) -> judge, refit, register, gate."""

from __future__ import annotations

from typing import Literal

from prefect import flow, get_run_logger
from pydantic import BaseModel, ConfigDict

from data.window import TrainingData
from flows import candidate, reports, running, tasks
from flows.cli import progress
from flows.config import ProjectConfig, load_config
from flows.locking import retune_lock
from flows.outcomes import RetuneOutcome
from flows.store import searches
from flows.store.handle import Store
from flows.store.project import open_store
from flows.store.registry import ChampionInfo
from models.errors import SearchError
from models.estimator import BNSoftmaxClassifier
from models.search.caviar import warm_start
from models.search.trials import TrialResult
from models.search.warm import fit_to_space, standing_configuration


class RetuneRequest(BaseModel):
    """What starts a retune: the project config, why, and the drift check that asked for it."""

    model_config = ConfigDict(extra="forbid")

    config_path: str
    trigger: Literal["drift", "schedule", "manual"] = "manual"
    drift_run_id: str | None = None


@flow(name="retune", log_prints=False)
def retune(request: RetuneRequest) -> RetuneOutcome:
    """Search the hyperparameters afresh on the newest data and promote only a better model."""
    config = load_config(request.config_path)
    with retune_lock(config.name, wait_s=config.runner.wait_for_lock_s):
        if config.window.candidates:
            progress.report_activity("choosing the window length")
        choice = tasks.choose_window(config) if config.window.candidates else None
        data = tasks.prepare_data(
            config.spec(),
            periods=choice.periods if choice else config.window.periods,
            validation=config.window.validation,
            holdout=config.window.holdout,
            min_rows=config.window.min_rows,
        )
        if choice is not None:
            get_run_logger().info("window length: %s", choice.describe())
        get_run_logger().info("window %s", _window_line(data))
        store = open_store(config, create=True)
        client = store.client
        champion = tasks.read_champion(store)
        handle = _open_search(config, data, store, request, champion)
        if choice is not None:
            tasks.record_window(client, handle.run_id, choice)
        results, best, searched = _search(config, data, store, handle)
        progress.report_activity("choosing the ensemble's members")
        members = running.ensemble_members(config, data, results, best)
        tasks.record_ensemble(store, handle.run_id, members)
        verdict = candidate.conclude(
            store,
            config,
            data,
            search_run_id=handle.run_id,
            best=best,
            champion=champion,
            members=members,
            searched=searched,
        )
        get_run_logger().info("candidate: %s", verdict.fit)
        leaderboard = reports.leaderboard_markdown(results, verdict, verdict.fit)
        reports.publish_leaderboard(config.name, leaderboard)
        tasks.describe_run(client, handle.run_id, leaderboard)
        tasks.end_search(client, handle.run_id)
        get_run_logger().info("retune %s: %s", config.name, verdict.decision.reason)
        return RetuneOutcome.of(request.trigger, handle, results, best, verdict)


def _window_line(data: TrainingData) -> str:
    split = data.split
    return (
        f"{', '.join(data.batch_ids)}: {len(split.train)} training, {len(split.validation)} "
        f"validation and {len(split.holdout)} holdout rows (data sha256 {data.sha256[:12]})"
    )


def _open_search(
    config: ProjectConfig,
    data: TrainingData,
    store: Store,
    request: RetuneRequest,
    champion: ChampionInfo | None,
) -> searches.SearchHandle:
    """Resume this data's unfinished search, or open a new one warm-started from the last."""
    client = store.client
    previous = searches.latest_finished_search(store)
    previous_trials = [] if previous is None else list(tasks.read_trials(client, previous).values())
    champion_config = searches.champion_params(client, champion)
    # The fixed configuration (search.standing_candidate) comes first, then the champion's; what
    # does not fit in round 1 is left out.
    standing = []
    if config.search.standing_candidate and config.search.strategy == "caviar":
        plan = config.search.plan
        standing = [standing_configuration(plan.space, plan.fixed)]
    initial = (standing + warm_start(previous_trials, champion_config, config.search.warm_start_k))[
        : config.search.trials_per_round
    ]
    # Configurations from an earlier, other space are brought into this one, and the log says how.
    initial, notes = fit_to_space(initial, config.search.plan.space)
    for note in notes:
        get_run_logger().info("warm start: %s", note)
    handle = tasks.open_search(
        store,
        config,
        data,
        trigger=request.trigger,
        initial=initial,
        drift_run_id=request.drift_run_id,
        warm_start_run_id=previous,
        champion_version="" if champion is None else champion.version,
    )
    if handle.resumed:
        get_run_logger().info(
            "resuming search %s: %d trials already logged", handle.run_id, len(handle.completed)
        )
        return handle
    tasks.log_datasets(
        client,
        handle.run_id,
        {
            "training": data.split.train,
            "validation": data.split.validation,
            "holdout": data.split.holdout,
        },
        label=data.spec.label,
        source=data.spec.path,
        name=config.name,
    )
    return handle


def _search(
    config: ProjectConfig,
    data: TrainingData,
    store: Store,
    handle: searches.SearchHandle,
) -> tuple[list[TrialResult], TrialResult, BNSoftmaxClassifier | None]:
    """Train the strategy's trials (those not yet logged); the search run stays open."""
    strategy, budget = config.search.plan.strategy, config.search.plan.budget
    client = store.client
    logger = running.TrialLogger(
        client,
        handle.run_id,
        strategy,
        budget,
        experiment_id=store.experiment_id("search"),
        fresh_search=not handle.resumed,
    )
    try:
        results, best, searched = _train(config, data, logger, handle)
    except SearchError as error:
        # The search run ends FAILED with the reason and what was trained; the champion stays.
        tasks.close_search(client, handle.run_id, list(error.results), error=str(error))
        raise
    tasks.close_search(client, handle.run_id, results, keep_open=True)
    return results, best, searched


def _train(
    config: ProjectConfig,
    data: TrainingData,
    logger: running.TrialLogger,
    handle: searches.SearchHandle,
) -> tuple[list[TrialResult], TrialResult, BNSoftmaxClassifier | None]:
    """The strategy's trials, the best of them, and panda's babysat model (None for caviar)."""
    initial = [dict(c) for c in handle.initial]
    if config.search.strategy == "caviar":
        outcome = running.run_caviar(
            config, data, logger, initial=initial, completed=dict(handle.completed)
        )
        return list(outcome.results), outcome.best, None
    if 0 in handle.completed:  # a resumed panda search: its one trial is logged already
        best, model = handle.completed[0], None
    else:
        sitter, proposal = running.panda_start(config, data, initial)
        best, model = logger(proposal, running.run_panda(sitter, proposal)), sitter.model
    if best.status != "ok":  # nothing to refit or promote: a diverged model never meets the gate
        raise SearchError(
            f"panda's babysat model {best.status}: {best.error}",
            errors=[best.error],
            results=[best],
        )
    return [best], best, model
