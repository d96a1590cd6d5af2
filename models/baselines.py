"""The policies a retuning loop must beat, each refit on the batch before the one it scores.

- ``fit_fixed``: one fixed BNSoftmaxClassifier configuration (the estimator's defaults under the
  project's fixed settings), no drift check, no search, no gate: the cron job driftune replaces.
- ``fit_hist_gradient_boosting``: scikit-learn's HistGradientBoostingClassifier, what a user
  reaches for instead of a neural network on a table.
- ``fit_random_search``: a random search of the project's space on the previous batch (the
  newest fifth validates), its best configuration refit on the whole batch: tuning by cron.

Every function takes encoded arrays (the caller fits the preprocessing on the same rows) and an
explicit seed, and returns a fitted scikit-learn classifier.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits

from models.estimator import BNSoftmaxClassifier
from models.refit import refit
from models.search.caviar import CoarseToFine
from models.search.driver import run_search
from models.search.space import SearchSpace
from models.trial import make_train_fn

VALIDATION_FRACTION = 0.2


def fit_fixed(
    X: ArrayLike,
    y: ArrayLike,
    *,
    fixed: Mapping[str, Any],
    seed: int,
    n_threads: int | None = None,
) -> BNSoftmaxClassifier:
    """The estimator's default configuration, with the project's fixed settings on top."""
    settings = {**fixed, "random_state": seed}
    if n_threads is not None:
        settings["n_threads"] = n_threads
    return BNSoftmaxClassifier(**settings).fit(X, y)


def fit_hist_gradient_boosting(
    X: ArrayLike, y: ArrayLike, *, seed: int, n_threads: int | None = None
) -> ClassifierMixin:
    model = HistGradientBoostingClassifier(random_state=seed)
    with threadpool_limits(limits=n_threads, user_api="openmp"):
        return model.fit(X, y)


def fit_random_search(
    X: ArrayLike,
    y: ArrayLike,
    *,
    space: SearchSpace,
    fixed: Mapping[str, Any],
    trials: int,
    seed: int,
    n_threads: int | None = None,
) -> BNSoftmaxClassifier:
    """``trials`` random configurations validated on the newest rows, the best refit on all.

    Rows are in time order, so the newest fifth validates, as driftune's own split does.
    """
    X_arr, y_arr = np.asarray(X), np.asarray(y)
    n_val = max(1, round(len(y_arr) * VALIDATION_FRACTION))
    cut = len(y_arr) - n_val
    train_fn = make_train_fn(
        X_arr[:cut], y_arr[:cut], X_arr[cut:], y_arr[cut:], fixed_params=fixed, n_threads=n_threads
    )
    strategy = CoarseToFine(space, rounds=1, trials_per_round=trials, top_k=1, seed=seed)
    outcome = run_search(strategy, train_fn, max_consecutive_failures=trials)
    return refit(outcome.best, fixed, X_arr, y_arr, n_threads=n_threads)
