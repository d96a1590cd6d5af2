"""run_search: rounds, failure streaks, resume, a parallel round runner, the default train_fn."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, log_loss

from models import (
    BNSoftmaxClassifier,
    CoarseToFine,
    Proposal,
    SearchError,
    SearchSpace,
    make_train_fn,
    run_search,
    safe_train,
)
from models.search.driver import TrainFn
from models.search.trials import TrialResult


class Objective:
    """A synthetic train_fn that counts its calls; best at learning_rate = 3e-3."""

    def __init__(self, fail_when: Any = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail_when = fail_when

    def __call__(self, params: Mapping[str, Any], seed: int) -> TrialResult:
        self.calls.append(dict(params))
        if self.fail_when is not None and self.fail_when(len(self.calls)):
            return TrialResult(
                params, seed, "diverged", error=f"loss was nan (call {len(self.calls)})"
            )
        accuracy = 0.95 - 0.1 * abs(math.log10(params["learning_rate"] / 3e-3))
        return TrialResult(params, seed, "ok", {"val_accuracy": accuracy, "val_log_loss": 1.0})


def caviar(seed: int = 0, rounds: int = 3, per_round: int = 4) -> CoarseToFine:
    return CoarseToFine(
        SearchSpace.default(), rounds=rounds, trials_per_round=per_round, top_k=2, seed=seed
    )


def test_runs_every_proposal_once_and_returns_the_best() -> None:
    objective = Objective()
    outcome = run_search(caviar(), objective)
    assert len(outcome.results) == len(objective.calls) == 12
    assert [r.round for r in outcome.results] == [1] * 4 + [2] * 4 + [3] * 4
    assert outcome.best.metrics["val_accuracy"] == max(
        r.metrics["val_accuracy"] for r in outcome.results
    )
    assert dict(outcome.counts) == {"ok": 12, "diverged": 0, "failed": 0, "pruned": 0}


def test_every_trial_diverging_stops_with_the_errors_not_a_hang() -> None:
    objective = Objective(fail_when=lambda call: True)
    with pytest.raises(SearchError, match="5 trials in a row") as caught:
        run_search(caviar(rounds=50, per_round=8), objective)
    assert len(objective.calls) == 5  # stopped mid-round: the other three never trained
    assert "loss was nan (call 5)" in str(caught.value)
    assert len(caught.value.errors) == 5 and len(caught.value.results) == 5
    with pytest.raises(SearchError, match="2 trials in a row"):
        run_search(caviar(), Objective(fail_when=lambda call: True), max_consecutive_failures=2)


def test_failures_between_ok_trials_are_kept_as_results() -> None:
    objective = Objective(fail_when=lambda call: call % 3 != 0)  # two failures, then an ok
    outcome = run_search(caviar(), objective, max_consecutive_failures=3)
    assert dict(outcome.counts) == {"ok": 4, "diverged": 8, "failed": 0, "pruned": 0}
    assert outcome.best.ok


def test_pruned_trials_are_results_not_a_failure_streak() -> None:
    def pruned_mostly(params: Mapping[str, Any], seed: int) -> TrialResult:
        result = Objective()(params, seed)
        if params["learning_rate"] < 3e-3:  # a pruned trial keeps its score so far
            return TrialResult(params, seed, "pruned", result.metrics, error="ranked low")
        return result

    outcome = run_search(caviar(rounds=2, per_round=8), pruned_mostly, max_consecutive_failures=1)
    assert outcome.counts["pruned"] > 1 and outcome.counts["ok"] >= 1
    assert outcome.best.ok  # never a pruned one, however it scored


def test_a_search_without_any_ok_trial_is_an_error() -> None:
    with pytest.raises(SearchError, match="without an ok trial"):
        run_search(caviar(rounds=1, per_round=3), Objective(fail_when=lambda call: True))


def test_exceptions_become_failed_results() -> None:
    def explode(params: Mapping[str, Any], seed: int) -> TrialResult:
        raise RuntimeError("CUDA out of memory")

    result = safe_train(explode, Proposal(7, 2, {"learning_rate": 1e-3}, 5))
    assert result.status == "failed" and result.round == 2 and result.seed == 5
    assert result.error == "RuntimeError: CUDA out of memory"
    with pytest.raises(SearchError, match="RuntimeError: CUDA out of memory"):
        run_search(caviar(), explode)


def test_resume_trains_only_what_is_missing_and_ends_the_same() -> None:
    full = run_search(caviar(seed=4), Objective())
    objective = Objective()
    completed = dict(enumerate(full.results[:6]))  # killed halfway through round 2
    seen: list[int] = []
    resumed = run_search(
        caviar(seed=4), objective, completed=completed, on_result=lambda p, r: seen.append(p.index)
    )
    assert seen == list(range(6, 12)) and len(objective.calls) == 6
    assert resumed.results == full.results


def test_resume_refuses_results_from_another_search() -> None:
    other = run_search(caviar(seed=1), Objective())
    with pytest.raises(ValueError, match="completed trial 0"):
        run_search(caviar(seed=2), Objective(), completed={0: other.results[0]})


def test_a_parallel_round_runner_gets_whole_rounds_and_matches_sequential() -> None:
    batches: list[list[int]] = []

    def in_threads(train_fn: TrainFn, proposals: Sequence[Proposal]) -> list[TrialResult]:
        batches.append([p.index for p in proposals])
        with ThreadPoolExecutor(max_workers=4) as pool:
            return list(pool.map(lambda p: safe_train(train_fn, p), proposals))

    parallel = run_search(caviar(seed=9), Objective(), run_round=in_threads)
    assert batches == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    assert parallel.results == run_search(caviar(seed=9), Objective()).results


def tiny_data(seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(256, 6)).astype(np.float32)
    y = np.where(X[:, 0] - X[:, 2] > 0, "rain", "sun")
    return X[:128], y[:128], X[128:], y[128:]


def test_default_train_fn_fits_and_scores_a_real_classifier() -> None:
    X_tr, y_tr, X_val, y_val = tiny_data()
    train_fn = make_train_fn(X_tr, y_tr, X_val, y_val, fixed_params={"max_epochs": 4}, n_threads=1)
    params = {"learning_rate": 1e-2, "n_layers": 1, "hidden_units": 16, "batch_size": 32}
    result = train_fn(params, 3)
    assert result.status == "ok" and dict(result.params) == params and result.seed == 3
    same = BNSoftmaxClassifier(**params, max_epochs=4, random_state=3, n_threads=1)
    same.fit(X_tr, y_tr, eval_set=(X_val, y_val))
    assert result.metrics["val_accuracy"] == accuracy_score(y_val, same.predict(X_val))
    assert result.metrics["val_log_loss"] == pytest.approx(
        log_loss(y_val, same.predict_proba(X_val), labels=same.classes_)
    )
    assert result.metrics["epochs"] == 4 and len(result.curves["val_loss"]) == 4
    assert result.duration_s >= result.metrics["train_seconds"] > 0


def test_default_train_fn_reports_divergence_and_failure_as_results() -> None:
    X_tr, y_tr, X_val, y_val = tiny_data()
    train_fn = make_train_fn(X_tr, y_tr, X_val, y_val, fixed_params={"max_epochs": 3}, n_threads=1)
    diverged = train_fn({"learning_rate": 1e8, "optimizer": "sgd", "batch_size": 16}, 0)
    assert diverged.status == "diverged" and diverged.error.startswith("training diverged at")
    typo = train_fn({"learnin_rate": 1e-2}, 0)
    assert typo.status == "failed" and "learnin_rate" in typo.error
    narrow = make_train_fn(X_tr, y_tr, X_val[:, :3], y_val)({}, 0)
    assert narrow.status == "failed" and narrow.error.startswith("ValueError:")
    assert "features" in narrow.error
