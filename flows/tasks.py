"""Core functions as Prefect tasks: ``task(fn)``, retries only where the work is idempotent I/O.

Nothing here holds maths; caching is off because the inputs are arrays and models that Prefect
would otherwise hash on every call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.states import State
from prefect.tasks import exponential_backoff

from data.window import prepare_training_data
from flows import gate, windows
from flows.outages import as_outage
from flows.store import drift_checks as monitoring
from flows.store import registry, searches, tracking, trials
from flows.store.tracking import end_search_run, finish_search_run
from models.panda import Babysitter, Decision
from models.search.driver import safe_train
from models.search.trials import Proposal, TrialResult
from models.trial import RoundFn

F = TypeVar("F", bound=Callable[..., Any])


def compute(fn: F, name: str, **options: Any) -> Any:
    """A task for pure computation: no retries (a retry would fail the same way)."""
    return task(fn, name=name, cache_policy=NO_CACHE, **options)


def io(fn: F, name: str, **options: Any) -> Any:
    """A task for idempotent MLflow I/O: three retries with exponential backoff (1, 2, 4 s).

    Not when the tracking server did not answer: MLflow's client has already retried that for
    the configured ``tracking.timeout_s``, and retrying the task would multiply the wait.
    """
    return task(
        fn,
        name=name,
        cache_policy=NO_CACHE,
        retries=3,
        retry_delay_seconds=exponential_backoff(backoff_factor=1),
        retry_condition_fn=_not_an_outage,
        **options,
    )


def _not_an_outage(task: Any, task_run: Any, state: State[Any]) -> bool:
    error = state.result(raise_on_failure=False)
    return not (isinstance(error, BaseException) and as_outage(error, "") is not None)


def fused_round(train_round: RoundFn, proposals: Sequence[Proposal]) -> list[TrialResult]:
    """Train a search round's proposals as fused models (models.trial.make_fused_round)."""
    return train_round(proposals)


def babysit_segment(babysitter: Babysitter) -> Decision:
    """Train one panda segment and return the babysitter's decision."""
    return babysitter.step()


prepare_data = compute(prepare_training_data, "prepare-training-data")
choose_window = compute(windows.choose_training_window, "choose-window-length")
train_trial = compute(safe_train, "train-trial", task_run_name="trial-{proposal.index}")
train_round = compute(fused_round, "train-round")
panda_segment = compute(babysit_segment, "panda-segment")

log_trial = io(trials.log_trial, "log-trial", task_run_name="log-trial-{index}")
open_search = io(searches.open_search, "open-search")
read_champion = io(registry.champion, "read-champion")
read_trials = io(trials.find_logged_trials, "read-trials")
close_search = io(finish_search_run, "close-search")
end_search = io(end_search_run, "end-search")
log_datasets = io(tracking.log_datasets, "log-datasets")
save_profile = io(searches.log_reference_profile, "save-reference-profile")
record_window = io(searches.record_window, "record-window-length")
record_ensemble = io(searches.record_ensemble, "record-ensemble")
describe_run = io(tracking.describe_run, "describe-search-run")
refit_candidate = compute(gate.refit_candidate, "refit-candidate")
decide = compute(gate.decide, "promotion-gate")
refit_on_window = compute(gate.window_candidate, "refit-on-window")
# Logging a model, registering it and moving aliases run once and fail loudly: a blind retry
# could log a second model. A rerun of the retune resumes them instead (flows/candidate.py
# finds what each already did).
log_candidate = compute(gate.log_candidate, "log-candidate")
register_candidate = compute(gate.register, "register-candidate")
carry_out = compute(gate.carry_out, "carry-out-verdict")
drift_report = compute(monitoring.drift_report, "drift-report")
log_drift = io(monitoring.log_drift_check, "log-drift-check")
