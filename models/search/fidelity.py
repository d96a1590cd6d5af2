"""Multi-fidelity caviar: early rounds train on a subsample of the rows, for fewer epochs.

caviar's rounds are a budget schedule already: round 1 spreads its trials over the whole space,
later rounds zoom on the best. On a large window the early rounds only need to tell the good
regions from the bad, which a fraction of the rows and epochs does (successive halving over data
size, Jamieson and Talwalkar 2016; Hyperband's budgets, Li et al. 2018); the last round trains
on every row, so the trials the ensemble and the refit build on saw the whole window. Round r of
R sees ``n / eta**(R - r)`` training rows (never fewer than ``min_rows``) and
``max_epochs / epoch_factor**(R - r)`` epochs. The validation rows stay whole, so every trial's
validation probabilities and scores stay comparable across rounds.

A window with fewer than ``min_rows`` training rows keeps the full search: there a subsample
saves seconds and costs accuracy. Optuna's and Ray Tune's pruners cut epochs of trials that
report to a study or scheduler one by one; none subsamples rows per round of a batch strategy,
so the schedule is these few lines.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RoundBudget:
    """What each trial of a round trains on: ``rows`` of the ``total_rows`` training rows, and
    its ``max_epochs`` divided by ``epochs_divisor`` (rounded up)."""

    rows: int
    total_rows: int
    epochs_divisor: int = 1

    @property
    def full(self) -> bool:
        return self.rows >= self.total_rows and self.epochs_divisor == 1

    def epochs(self, max_epochs: int) -> int:
        return max(1, math.ceil(max_epochs / self.epochs_divisor))

    def rows_of(self, n_rows: int) -> int:
        """The rows of a fold of ``n_rows`` training rows, at this budget's fraction."""
        if self.rows >= self.total_rows:
            return n_rows
        return max(1, min(n_rows, math.ceil(n_rows * self.rows / self.total_rows)))


@dataclass(frozen=True)
class Fidelity:
    """The per-round budgets of a caviar search (``search.fidelity``)."""

    min_rows: int = 20_000
    reduction_factor: int = 3
    epoch_factor: int = 2

    def __post_init__(self) -> None:
        if self.min_rows < 1:
            raise ValueError(f"min_rows must be at least 1, got {self.min_rows}")
        if self.reduction_factor < 2:
            raise ValueError(f"reduction_factor must be >= 2, got {self.reduction_factor}")
        if self.epoch_factor < 1:
            raise ValueError(f"epoch_factor must be >= 1, got {self.epoch_factor}")

    def budget(self, round_: int, rounds: int, n_rows: int) -> RoundBudget:
        """Round ``round_`` (from 1) of ``rounds`` on a window of ``n_rows`` training rows."""
        steps = max(rounds - round_, 0)
        if n_rows < self.min_rows or steps == 0:
            return RoundBudget(n_rows, n_rows)
        rows = max(self.min_rows, math.ceil(n_rows / self.reduction_factor**steps))
        if rows >= n_rows:
            return RoundBudget(n_rows, n_rows)
        return RoundBudget(rows, n_rows, self.epoch_factor**steps)


def subsample(n_rows: int, rows: int, seed: int, round_: int) -> np.ndarray:
    """The indices (in time order) of the ``rows`` of ``n_rows`` a round trains on.

    One draw per (search seed, round), without replacement: every trial of a round sees the
    same rows, so they compare fairly and a fused round can stack them; a resumed round draws
    the same ones.
    """
    if rows >= n_rows:
        return np.arange(n_rows)
    rng = np.random.default_rng([seed, round_, 0xF1DE])
    return np.sort(rng.choice(n_rows, size=rows, replace=False))
