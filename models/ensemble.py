"""Greedy ensemble selection: which trials to average, and how often each counts.

Picking the one trial with the best validation score picks the luckiest of many on a few dozen
rows as often as the best (the winner's curse of a search on small data). Averaging the
predicted probabilities of several good trials is steadier: their errors are partly
independent, so the average's error is smaller and moves less from one search seed to the next.
Which trials, and with what weight, is chosen as Caruana et al. (2004, "Ensemble selection from
libraries of models") do and auto-sklearn and AutoGluon after them: start from the best single
trial, then repeatedly add the trial (with replacement, so a trial can count twice) whose
addition makes the average's validation log-loss smallest; a member's weight is how often it was
added. Log-loss rather than accuracy: on small validation sets accuracy ties between most
candidates and its steps are too coarse to hill-climb on.

The other method, ``top``, averages the ``max_members`` trials with the lowest validation
log-loss with equal weights. It fits nothing to the validation rows beyond the ranking, so it
cannot chase their noise as the greedy weights can (Caruana et al. 2006, "Getting the most out of
ensemble selection", saw greedy selection overfit small hill-climbing sets); the backtest decides
which one a user gets by default.

Written here rather than taken from a library: scikit-learn has no ensemble selection, and
auto-sklearn's (``EnsembleSelection``) comes with its whole AutoML stack and an old pin of
scikit-learn. The algorithm is twenty lines of numpy.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from models.folds import Fold, judged_labels
from models.search.trials import TrialResult

EPSILON = 1e-15  # probabilities are clipped here before the log, as scikit-learn's log_loss does


@dataclass(frozen=True)
class EnsembleChoice:
    """The chosen trials by index, each with its weight (the weights sum to one), and the
    ensemble's log-loss on the rows it was chosen on."""

    members: tuple[tuple[int, float], ...]
    log_loss: float

    @property
    def indices(self) -> tuple[int, ...]:
        return tuple(index for index, _ in self.members)


def select_ensemble(
    probabilities: Mapping[int, np.ndarray],
    y: np.ndarray,
    *,
    steps: int = 20,
    max_members: int = 5,
) -> EnsembleChoice:
    """Greedy forward selection with replacement over the trials' validation probabilities.

    ``probabilities`` maps a trial index to its (n_rows, n_classes) predicted probabilities on
    the same rows, ``y`` holds those rows' true class positions (column indices). ``steps``
    additions in all; at most ``max_members`` distinct trials (then only members already in
    are added again). Ties go to the lower trial index, so the choice is deterministic.
    """
    if not probabilities:
        raise ValueError("ensemble selection needs at least one trial's probabilities")
    if steps < 1 or max_members < 1:
        raise ValueError(f"steps and max_members must be at least 1, got {steps}, {max_members}")
    indices = sorted(probabilities)
    stacked = np.stack([np.asarray(probabilities[i], dtype=np.float64) for i in indices])
    if stacked.shape[1] != len(y):
        raise ValueError(f"probabilities cover {stacked.shape[1]} rows, y has {len(y)}")
    # Each candidate's probability of the true class, row by row: the only entries log-loss reads.
    truth = stacked[:, np.arange(len(y)), np.asarray(y, dtype=np.int64)]
    chosen: Counter[int] = Counter()
    total = np.zeros(len(y))
    for step in range(steps):
        allowed = [
            position
            for position, index in enumerate(indices)
            if len(chosen) < max_members or index in chosen
        ]
        losses = [_log_loss((total + truth[p]) / (step + 1)) for p in allowed]
        best = allowed[int(np.argmin(losses))]  # argmin takes the first: the lowest index
        chosen[indices[best]] += 1
        total += truth[best]
    members = tuple((index, count / steps) for index, count in sorted(chosen.items()))
    return EnsembleChoice(members, _log_loss(total / steps))


def select_top(
    probabilities: Mapping[int, np.ndarray], y: np.ndarray, *, max_members: int = 5
) -> EnsembleChoice:
    """The ``max_members`` trials with the lowest log-loss on the rows, equally weighted.

    Same arguments as ``select_ensemble``; ties go to the lower trial index.
    """
    if not probabilities:
        raise ValueError("ensemble selection needs at least one trial's probabilities")
    if max_members < 1:
        raise ValueError(f"max_members must be at least 1, got {max_members}")
    positions = np.arange(len(y))
    truth = np.asarray(y, dtype=np.int64)
    losses = {}
    for index, proba in probabilities.items():
        proba = np.asarray(proba, dtype=np.float64)
        if proba.shape[0] != len(y):
            raise ValueError(f"probabilities cover {proba.shape[0]} rows, y has {len(y)}")
        losses[index] = _log_loss(proba[positions, truth])
    ranked = sorted(losses, key=lambda index: (losses[index], index))[:max_members]
    members = tuple((index, 1.0 / len(ranked)) for index in sorted(ranked))
    choice = EnsembleChoice(members, 0.0)
    averaged = average_probabilities(probabilities, choice)
    return EnsembleChoice(members, _log_loss(averaged[positions, truth]))


def _log_loss(p_true: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(p_true, EPSILON, 1.0))))


def average_probabilities(
    probabilities: Mapping[int, np.ndarray], choice: EnsembleChoice
) -> np.ndarray:
    """The ensemble's probabilities: its members' weighted average."""
    return sum(  # type: ignore[return-value]
        weight * np.asarray(probabilities[index], dtype=np.float64)
        for index, weight in choice.members
    )


Members = tuple[tuple[TrialResult, float], ...]


def choose_members(
    results: Sequence[TrialResult],
    folds: Sequence[Fold],
    best: TrialResult,
    *,
    max_members: int,
    steps: int,
    method: str = "greedy",
) -> Members:
    """The trials the champion-to-be averages with their weights, heaviest first, or ``best``
    alone.

    ``method`` is ``greedy`` (``select_ensemble``) or ``top`` (``select_top``). ``best`` alone
    when ``max_members`` is 1 or fewer than two ok trials carry predictions (panda's one model, or
    trials logged before trials kept their predictions).
    """
    pool = {r.index: r for r in results if r.ok and r.predictions is not None}
    if max_members == 1 or len(pool) < 2:
        return ((best, 1.0),)
    y = judged_labels(folds)
    first = folds[0]
    classes = np.unique(np.concatenate([first.y_train, first.y_val]))
    probabilities = {index: r.predictions for index, r in pool.items()}
    positions = np.searchsorted(classes, y)
    if method == "top":
        choice = select_top(probabilities, positions, max_members=max_members)  # type: ignore[arg-type]
    elif method == "greedy":
        choice = select_ensemble(
            probabilities,  # type: ignore[arg-type]
            positions,
            steps=steps,
            max_members=max_members,
        )
    else:
        raise ValueError(f"unknown ensemble method {method!r}: greedy or top")
    heaviest_first = sorted(choice.members, key=lambda member: (-member[1], member[0]))
    return tuple((pool[index], weight) for index, weight in heaviest_first)
