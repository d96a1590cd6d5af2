"""Running a search's trials as Prefect tasks: caviar's rounds in parallel, panda's segments.

Each trial is logged to MLflow the moment it finishes (not when its round ends), so a retune
killed mid-round loses only the trials still training.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np
from mlflow import MlflowClient
from prefect import get_run_logger
from prefect.futures import as_completed
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from data.errors import ConfigError
from data.window import TrainingData
from flows import tasks
from flows.cli import progress
from flows.config import ProjectConfig
from flows.cores import parallel_trials, threads_per_trial
from models.ensemble import Members, choose_members
from models.folds import Fold, judging_folds_for
from models.panda import Babysitter, Panda
from models.search.caviar import CoarseToFine
from models.search.driver import SearchOutcome, TrainFn, run_search
from models.search.plan import SearchPlan
from models.search.trials import Proposal, TrialResult, trial_seed
from models.trial import (
    RoundFn,
    make_folds_round,
    make_folds_train_fn,
    round_folds,
    train_missing,
)


def judging_folds(config: ProjectConfig, data: TrainingData) -> tuple[Fold, ...]:
    """The rows every trial of this retune is judged on (search.cross_validation)."""
    cv = config.search.cross_validation
    return judging_folds_for(data.encoded, folds=cv.folds, below_rows=cv.below_rows)


def ensemble_members(
    config: ProjectConfig, data: TrainingData, results: Sequence[TrialResult], best: TrialResult
) -> Members:
    """The trials the champion-to-be averages (search.ensemble), chosen on the rows the trials
    were judged on."""
    ensemble = config.search.ensemble
    return choose_members(
        results,
        judging_folds(config, data),
        best,
        max_members=ensemble.max_members,
        steps=ensemble.steps,
        method=ensemble.method,
    )


def make_task_runner(config: ProjectConfig) -> TaskRunner[Any]:
    """Threads in this process by default; a Dask cluster through prefect-dask when configured."""
    if config.runner.kind == "threads":
        return ThreadPoolTaskRunner(max_workers=parallel_trials(config))
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError as error:
        raise ConfigError(
            "runner.kind 'dask' needs prefect-dask: pip install 'driftune[cluster]'"
        ) from error
    return DaskTaskRunner(address=config.runner.dask_address)  # type: ignore[no-any-return]


class TrialLogger:
    """Logs each finished trial under the search run and tells the progress listeners.

    ``experiment_id`` is the search run's experiment; ``fresh_search`` says this retune opened
    the search run (it resumed none), so no trial of it can be logged already
    (``flows.store.trials.log_trial`` then skips its lookup before each create).
    """

    def __init__(
        self,
        client: MlflowClient,
        search_run_id: str,
        strategy: str,
        budget: int,
        *,
        experiment_id: str | None = None,
        fresh_search: bool = False,
    ):
        self.client, self.search_run_id, self.strategy = client, search_run_id, strategy
        self.budget, self.finished = budget, 0
        self.experiment_id, self.fresh_search = experiment_id, fresh_search

    def __call__(self, proposal: Proposal, result: TrialResult) -> TrialResult:
        tasks.log_trial(
            self.client,
            self.search_run_id,
            result.index,
            result,
            strategy=self.strategy,
            experiment_id=self.experiment_id,
            fresh_search=self.fresh_search,
        )
        self.finished += 1
        get_run_logger().info(
            "trial %d of %d (round %d): %s",
            self.finished,
            self.budget,
            result.round,
            _outcome(result),
        )
        progress.report(self.finished, self.budget, result)
        return result


def _outcome(result: TrialResult) -> str:
    """One log line's worth: the score and the parameters, or why the trial failed."""
    params = ", ".join(f"{name}={_short(value)}" for name, value in result.params.items())
    if result.status == "ok":
        return f"val accuracy {result.metrics.get('val_accuracy', float('nan')):.4f} ({params})"
    return f"{result.status}: {result.error} ({params})"


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def run_caviar(
    config: ProjectConfig,
    data: TrainingData,
    logger: TrialLogger,
    *,
    initial: Sequence[dict[str, Any]],
    completed: dict[int, TrialResult],
) -> SearchOutcome:
    """Coarse-to-fine rounds; each round's trials train concurrently on the task runner, or,
    with ``search.fused``, as one task of stacked models (pruned with ``search.pruning``)."""
    plan = config.search.plan
    strategy = CoarseToFine.from_plan(plan, initial)
    folds = judging_folds(config, data)
    n_threads, workers = threads_per_trial(config), parallel_trials(config)

    def round_train_fn(round_: int) -> TrainFn:
        # Each round's trials train at its fidelity (search.fidelity): early rounds of a large
        # window on a subsample of the training rows, the last on all of them.
        cut, budget = round_folds(folds, plan, round_)
        return make_folds_train_fn(cut, fixed_params=plan.fixed, n_threads=n_threads, budget=budget)

    def fused_round_fn(round_: int) -> RoundFn:
        # One task trains a fused round: its structure groups share the cores as trials do.
        cut, budget = round_folds(folds, plan, round_)
        return make_folds_round(
            cut,
            fixed_params=plan.fixed,
            n_threads=n_threads,
            pruner=plan.pruner,
            workers=workers,
            budget=budget,
        )

    logger.finished = len(completed)
    with make_task_runner(config) as runner:

        def threaded_round(_: TrainFn, proposals: Sequence[Proposal]) -> list[TrialResult]:
            fn = round_train_fn(proposals[0].round)
            futures = {
                runner.submit(tasks.train_trial, {"train_fn": fn, "proposal": p}): p
                for p in proposals
            }
            done: dict[int, TrialResult] = {}
            for future in as_completed(list(futures)):
                proposal = futures[future]
                done[proposal.index] = logger(proposal, future.result())
            return [done[p.index] for p in proposals]

        def fused_round(_: TrainFn, proposals: Sequence[Proposal]) -> list[TrialResult]:
            # A resumed round trains beside its logged trials again: pruning ranks it whole.
            whole = partial(train_missing, fused_round_fn(proposals[0].round), completed=completed)
            future = runner.submit(
                tasks.train_round, {"train_round": whole, "proposals": list(proposals)}
            )
            results = future.result()
            return [logger(p, r) for p, r in zip(proposals, results, strict=True)]

        return run_search(
            strategy,
            round_train_fn(plan.rounds),
            run_round=fused_round if plan.fused else threaded_round,
            completed=completed,
            max_consecutive_failures=plan.max_consecutive_failures,
        )


def panda_start(
    config: ProjectConfig, data: TrainingData, initial: Sequence[dict[str, Any]]
) -> tuple[Babysitter, Proposal]:
    """The one configuration panda babysits: the warm start's first, else a seeded sample."""
    plan = config.search.plan
    params = dict(initial[0]) if initial else _sampled_params(plan)
    proposal = Panda.from_plan(plan, params).propose(())[0]
    sitter = Babysitter.for_proposal(plan, proposal, n_threads=threads_per_trial(config))
    encoded = data.encoded
    sitter.start(encoded.X_train, encoded.y_train, encoded.X_val, encoded.y_val)
    return sitter, proposal


def run_panda(sitter: Babysitter, proposal: Proposal) -> TrialResult:
    """One Prefect task per segment, so the Prefect UI shows the babysitting timeline."""
    while not sitter.done:
        decision = tasks.panda_segment(sitter)
        get_run_logger().info(
            "panda segment %d at alpha %.3g: %s",
            decision.segment,
            decision.learning_rate,
            decision.reason,
        )
    return proposal.stamp(sitter.result())


def _sampled_params(plan: SearchPlan) -> dict[str, Any]:
    rng = np.random.default_rng(trial_seed(plan.seed, 0))
    return plan.space.sample(1, rng)[0]
