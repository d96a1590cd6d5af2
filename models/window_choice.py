"""How much history a retune trains on: the window length that best predicted the newest batch.

Rolling-origin evaluation, as forecasting does it: for each candidate length ``k``, train the
fixed configuration on the ``k`` batches before the newest one and score it on the newest batch,
a whole period of the rows the next model will face most like. Validation rows inside one period
would judge a window by a slice of one season (seattle's August and September): a whole batch
does not. The fixed configuration, not the champion's, so the choice depends on the data alone
and a resumed retune chooses the same window. Ties go to the shorter window, the fresher data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from models.estimator import BNSoftmaxClassifier

TrialRows = tuple[ArrayLike, ArrayLike, ArrayLike, ArrayLike]  # X_train, y_train, X_test, y_test


@dataclass(frozen=True)
class WindowChoice:
    """The chosen length in periods, and each candidate's accuracy on the newest batch."""

    periods: int
    accuracy: Mapping[int, float]

    def describe(self) -> str:
        scores = ", ".join(f"{k}: {a:.3f}" for k, a in sorted(self.accuracy.items()))
        return f"{self.periods} period(s) (accuracy on the newest batch by length: {scores})"


def choose_window(
    rows_by_periods: Mapping[int, TrialRows], settings: Mapping[str, Any]
) -> WindowChoice:
    """Train ``settings`` on each candidate's rows; the length whose model scores best."""
    if not rows_by_periods:
        raise ValueError("choose_window needs at least one candidate window")
    accuracy = {}
    for periods, (X_train, y_train, X_test, y_test) in sorted(rows_by_periods.items()):
        model = BNSoftmaxClassifier(**settings).fit(X_train, y_train)
        accuracy[periods] = float(np.mean(model.predict(X_test) == np.asarray(y_test)))
    best = max(accuracy.values())
    return WindowChoice(min(k for k, a in accuracy.items() if a == best), accuracy)
