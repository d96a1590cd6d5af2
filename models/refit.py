"""Refitting the winning configuration on all the rows the search learned from.

The refit replays the learning rate the trial used in each epoch, up to its best validation
epoch: for caviar that is alpha with its decay, for panda the rates the babysitter chose,
cuts and decays included (a restore rewinds the trial's curves, so only the path that led to
its final weights is replayed).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

from numpy.typing import ArrayLike

from models.estimator import BNSoftmaxClassifier
from models.fused import threads
from models.search.trials import TrialResult
from models.trial import trial_settings


def refit_settings(best: TrialResult, fixed: Mapping[str, Any]) -> dict[str, Any]:
    """The estimator settings for a refit on train + validation.

    With no validation rows left to stop early on, the refit trains for as many epochs as the
    search's best trial needed to reach its lowest validation loss, with the same seed.
    """
    return {
        **trial_settings(best, fixed),
        "max_epochs": best.best_epoch,
        "patience": None,
        "validation_fraction": 0.0,
    }


def replayed_rates(best: TrialResult, epochs: int) -> tuple[float, ...] | None:
    """The learning rate of each of the trial's first ``epochs`` epochs; None when unrecorded."""
    rates = tuple(float(alpha) for alpha in best.curves.get("learning_rate", ()))[:epochs]
    if len(rates) < epochs or not all(math.isfinite(alpha) and alpha > 0 for alpha in rates):
        return None
    return rates


def refit(
    best: TrialResult,
    fixed: Mapping[str, Any],
    X: ArrayLike,
    y: ArrayLike,
    *,
    n_threads: int | None = None,
) -> BNSoftmaxClassifier:
    """The trial's configuration refit on ``X``, ``y`` on ``n_threads`` torch threads.

    Pass the thread count the trial trained with: torch's sums come out in another order on
    another count, so a refit on torch's default (one thread per core) neither reproduces from
    run to run on a busy machine nor runs as fast as its trial beside other work.
    """
    settings = refit_settings(best, fixed)
    if n_threads is not None:
        settings["n_threads"] = n_threads
    model = BNSoftmaxClassifier(**settings)
    rates = replayed_rates(best, settings["max_epochs"])
    if rates is None:
        return model.fit(X, y)
    return _fit_following(model, rates, X, y)


def fit_as_searched(
    best: TrialResult,
    fixed: Mapping[str, Any],
    X_train: ArrayLike,
    y_train: ArrayLike,
    X_val: ArrayLike,
    y_val: ArrayLike,
    *,
    n_threads: int | None = None,
) -> BNSoftmaxClassifier:
    """The trial's model as the search trained it: training rows, stopped on validation."""
    settings = trial_settings(best, fixed)
    if n_threads is not None:
        settings["n_threads"] = n_threads
    return BNSoftmaxClassifier(**settings).fit(X_train, y_train, eval_set=(X_val, y_val))


def _fit_following(
    model: BNSoftmaxClassifier, rates: Sequence[float], X: ArrayLike, y: ArrayLike
) -> BNSoftmaxClassifier:
    trainer = model.start_training(X, y)
    started = time.perf_counter()
    for alpha in rates:
        if trainer.done:
            break
        # Setting the rate restarts the decay clock, so each epoch runs at exactly ``alpha``.
        trainer.set_learning_rate(alpha)
        trainer.train(1)
    return model.finish_training(trainer, time.perf_counter() - started)


def refit_members(
    members: Sequence[tuple[TrialResult, float]],
    fixed: Mapping[str, Any],
    X: ArrayLike,
    y: ArrayLike,
    *,
    n_threads: int,
    workers: int = 1,
) -> list[tuple[BNSoftmaxClassifier, float]]:
    """Each member's configuration refit on ``X``, ``y`` (``refit``), ``workers`` side by side,
    with its weight; a diverged refit comes back with ``status_ == "diverged"``."""

    def one(member: tuple[TrialResult, float]) -> tuple[BNSoftmaxClassifier, float]:
        trial, weight = member
        return refit(trial, fixed, X, y, n_threads=n_threads), weight

    with threads(min(workers, len(members))) as map_:
        return list(map_(one, members))
