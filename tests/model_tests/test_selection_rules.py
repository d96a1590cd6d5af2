"""Greedy ensemble selection and time-blocked folds: the pure parts of robust selection."""

from __future__ import annotations

import numpy as np
import pytest

from models.ensemble import average_probabilities, choose_members, select_ensemble, select_top
from models.folds import judged_labels, merge_fold_results, time_blocked_folds
from models.search.trials import TrialResult


def _proba(correct: np.ndarray, confidence: float) -> np.ndarray:
    """Two-class probabilities: ``confidence`` on class 1 where ``correct`` (truth is 1)."""
    p1 = np.where(correct, confidence, 1 - confidence)
    return np.stack([1 - p1, p1], axis=1)


def test_complementary_trials_are_averaged_and_a_useless_one_left_out() -> None:
    y = np.ones(100, dtype=int)
    a = _proba(np.arange(100) < 70, 0.9)  # right on the first 70 rows
    b = _proba(np.arange(100) >= 30, 0.9)  # right on the last 70 rows
    useless = _proba(np.zeros(100, dtype=bool), 0.9)  # always wrong
    choice = select_ensemble({0: a, 1: b, 2: useless}, y, steps=10, max_members=5)
    assert set(choice.indices) == {0, 1}
    assert sum(w for _, w in choice.members) == pytest.approx(1.0)
    single = min(-np.mean(np.log(p[:, 1])) for p in (a, b))  # the better one alone
    assert choice.log_loss < single
    averaged = average_probabilities({0: a, 1: b, 2: useless}, choice)
    assert -np.mean(np.log(averaged[:, 1])) == pytest.approx(choice.log_loss)


def test_one_step_is_the_single_best_trial_and_ties_go_to_the_lower_index() -> None:
    y = np.array([1, 0, 1, 1])
    good = _proba(np.array([True, False, True, True]), 0.8)
    choice = select_ensemble(
        {4: good, 2: good.copy(), 9: _proba(np.ones(4, bool), 0.6)}, y, steps=1
    )
    assert choice.members == ((2, 1.0),)


def test_max_members_caps_the_distinct_trials() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200)
    probabilities = {i: rng.dirichlet(np.ones(3), 200) for i in range(12)}
    choice = select_ensemble(probabilities, y, steps=40, max_members=3)
    assert len(choice.members) <= 3
    assert sum(w for _, w in choice.members) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="rows"):
        select_ensemble(probabilities, y[:10])


def test_top_averages_the_lowest_log_losses_equally_whatever_their_complementarity() -> None:
    y = np.ones(100, dtype=int)
    probabilities = {
        7: _proba(np.arange(100) < 90, 0.9),  # the best alone
        3: _proba(np.arange(100) < 80, 0.9),
        5: _proba(np.arange(100) < 80, 0.9),  # ties 3: the lower index goes first
        1: _proba(np.arange(100) < 60, 0.9),
    }
    choice = select_top(probabilities, y, max_members=3)
    assert choice.members == ((3, 1 / 3), (5, 1 / 3), (7, 1 / 3))
    averaged = average_probabilities(probabilities, choice)
    assert choice.log_loss == pytest.approx(-np.mean(np.log(averaged[:, 1])))
    assert select_top(probabilities, y, max_members=9).indices == (1, 3, 5, 7)
    with pytest.raises(ValueError, match="rows"):
        select_top(probabilities, y[:10])


def _trial(index: int, predictions: np.ndarray | None, val_accuracy: float = 0.8) -> TrialResult:
    return TrialResult(
        params={"learning_rate": 0.01},
        seed=index,
        status="ok",
        metrics={"val_accuracy": val_accuracy, "val_log_loss": 0.5},
        index=index,
        predictions=predictions,
    )


def test_choose_members_is_the_best_alone_when_asked_or_without_predictions() -> None:
    X = np.zeros((10, 1), dtype=np.float32)
    y = np.array(["no", "yes"] * 5)
    folds = time_blocked_folds(X[:6], y[:6], X[6:], y[6:], 1)
    with_predictions = [_trial(i, _proba(np.ones(4, bool), 0.6 + i / 10)) for i in range(3)]
    best = with_predictions[2]
    assert choose_members(with_predictions, folds, best, max_members=1, steps=5) == ((best, 1.0),)
    bare = [_trial(i, None) for i in range(3)]
    assert choose_members(bare, folds, bare[0], max_members=5, steps=5) == ((bare[0], 1.0),)
    members = choose_members(with_predictions, folds, best, max_members=5, steps=5)
    assert members[0][0].index in {0, 1, 2} and sum(w for _, w in members) == pytest.approx(1)
    assert [w for _, w in members] == sorted((w for _, w in members), reverse=True)
    top = choose_members(with_predictions, folds, best, max_members=2, steps=5, method="top")
    # Half the judged rows are "no": the least confident trials have the lowest log-loss.
    assert sorted(t.index for t, _ in top) == [0, 1] and {w for _, w in top} == {0.5}
    with pytest.raises(ValueError, match="unknown ensemble method"):
        choose_members(with_predictions, folds, best, max_members=2, steps=5, method="vote")


def test_time_blocked_folds_hold_out_each_row_once_in_contiguous_blocks() -> None:
    X = np.arange(23, dtype=np.float32).reshape(-1, 1)
    y = np.arange(23)
    folds = time_blocked_folds(X[:17], y[:17], X[17:], y[17:], 5)
    assert len(folds) == 5
    held = np.concatenate([f.y_val for f in folds])
    assert held.tolist() == list(range(23))  # every row once, in time order
    for fold in folds:
        assert np.all(np.diff(fold.y_val) == 1)  # a block, not scattered rows
        assert not set(fold.y_val) & set(fold.y_train)
        assert len(fold.y_train) + len(fold.y_val) == 23
    assert judged_labels(folds).tolist() == list(range(23))
    (only,) = time_blocked_folds(X[:17], y[:17], X[17:], y[17:], 1)
    assert only.y_val.tolist() == list(range(17, 23))


def test_merged_folds_score_out_of_fold_and_refit_for_the_median_best_epoch() -> None:
    def fold_result(accuracy: float, rows: int, best: int, status: str = "ok") -> TrialResult:
        losses = [1.0 - 0.1 * min(e, best) + 0.05 * max(e - best, 0) for e in range(1, 8)]
        return TrialResult(
            params={"n_layers": 1},
            seed=1,
            status=status,  # type: ignore[arg-type]
            error="" if status == "ok" else "boom",
            metrics={"val_accuracy": accuracy, "val_log_loss": 0.4, "epochs": 7.0},
            curves={"val_loss": losses},
            predictions=np.full((rows, 2), 0.5),
        )

    merged = merge_fold_results(
        [fold_result(0.5, 10, 2), fold_result(1.0, 30, 4), fold_result(0.9, 10, 6)], [10, 30, 10]
    )
    assert merged.ok and merged.metrics["val_accuracy"] == pytest.approx(0.88)
    assert merged.best_epoch == 4 and merged.metrics["folds"] == 3
    assert merged.predictions is not None and merged.predictions.shape == (50, 2)
    broken = merge_fold_results(
        [fold_result(0.5, 10, 2), fold_result(0.5, 10, 2, "diverged")], [10, 10]
    )
    assert broken.status == "diverged" and broken.error.startswith("fold 2 of 2: boom")
