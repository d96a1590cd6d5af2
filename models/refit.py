"""Refitting the winning configuration on all the rows the search learned from."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from numpy.typing import ArrayLike

from models.estimator import BNSoftmaxClassifier
from models.selection import TrialResult


def refit_settings(best: TrialResult, fixed: Mapping[str, Any]) -> dict[str, Any]:
    """The estimator settings for a refit on train + validation.

    With no validation rows left to stop early on, the refit trains for as many epochs as the
    search's best trial needed to reach its lowest validation loss, with the same seed.
    """
    val_loss = list(best.curves.get("val_loss", ()))
    finite = [(loss, epoch) for epoch, loss in enumerate(val_loss, 1) if math.isfinite(loss)]
    epochs = min(finite)[1] if finite else int(best.metrics.get("epochs", 1))
    return {
        **fixed,
        **best.params,
        "max_epochs": max(epochs, 1),
        "patience": None,
        "validation_fraction": 0.0,
        "random_state": best.seed,
    }


def refit(
    best: TrialResult, fixed: Mapping[str, Any], X: ArrayLike, y: ArrayLike
) -> BNSoftmaxClassifier:
    return BNSoftmaxClassifier(**refit_settings(best, fixed)).fit(X, y)
