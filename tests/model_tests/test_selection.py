"""TrialResult is frozen and travels between processes; best_trial breaks ties the same way."""

from __future__ import annotations

import dataclasses
import math
import pickle

import pytest

from models.search.trials import TrialResult, best_trial, ranked


def _trial(accuracy: float, log_loss: float = 0.5, status: str = "ok", **kw: object) -> TrialResult:
    error = "" if status == "ok" else "boom"
    return TrialResult(
        params={"learning_rate": 1e-3},
        seed=1,
        status=status,  # type: ignore[arg-type]
        metrics={"val_accuracy": accuracy, "val_log_loss": log_loss},
        curves={"val_loss": [0.9, 0.5]},
        error=error,
        **kw,  # type: ignore[arg-type]
    )


def test_results_are_frozen_and_pickle_for_process_runners() -> None:
    trial = _trial(0.8, extras={"decisions": [{"segment": 1, "action": "keep"}]})
    with pytest.raises(dataclasses.FrozenInstanceError):
        trial.seed = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        trial.params["learning_rate"] = 1.0  # type: ignore[index]
    assert pickle.loads(pickle.dumps(trial)) == trial


def test_best_trial_ignores_failures_and_breaks_ties_by_log_loss_then_order() -> None:
    results = [
        _trial(0.9, status="diverged"),
        _trial(0.8, log_loss=0.6),
        _trial(0.8, log_loss=0.4),
        _trial(0.8, log_loss=0.4),
        _trial(math.nan),
    ]
    assert best_trial(results) is results[2]
    assert [r for r in ranked(results)] == [results[2], results[3], results[1]]


def test_no_ok_trial_is_an_error() -> None:
    with pytest.raises(ValueError, match="no ok trial"):
        best_trial([_trial(0.9, status="failed")])


def test_a_failed_trial_must_say_why() -> None:
    with pytest.raises(ValueError, match="needs an error"):
        TrialResult(params={}, seed=0, status="failed")
