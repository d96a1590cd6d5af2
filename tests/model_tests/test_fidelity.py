"""Multi-fidelity caviar's budgets (models.search.fidelity) and the folds a round trains on."""

from __future__ import annotations

import numpy as np
import pytest

from models.folds import Fold
from models.search.fidelity import Fidelity, RoundBudget, subsample
from models.trial import folds_at_budget


def test_a_window_below_min_rows_gets_every_row_and_epoch_in_every_round() -> None:
    fidelity = Fidelity(min_rows=20_000, reduction_factor=3, epoch_factor=2)
    for rows in (365, 2_016, 4_181, 19_999):
        for round_ in (1, 2, 3):
            assert fidelity.budget(round_, 3, rows) == RoundBudget(rows, rows)
            assert fidelity.budget(round_, 3, rows).full


def test_rounds_grow_by_the_reduction_factor_to_every_row_in_the_last() -> None:
    fidelity = Fidelity(min_rows=20_000, reduction_factor=3, epoch_factor=2)
    assert fidelity.budget(1, 3, 1_000_000) == RoundBudget(111_112, 1_000_000, 4)
    assert fidelity.budget(2, 3, 1_000_000) == RoundBudget(333_334, 1_000_000, 2)
    assert fidelity.budget(3, 3, 1_000_000) == RoundBudget(1_000_000, 1_000_000, 1)
    # Never below min_rows: 100k / 9 would be 11,112.
    assert fidelity.budget(1, 3, 100_000).rows == 20_000
    assert fidelity.budget(1, 3, 100_000).epochs(40) == 10
    assert fidelity.budget(2, 3, 100_000).epochs(40) == 20
    # A round whose sample would reach every row trains at full fidelity, epochs included.
    assert fidelity.budget(1, 3, 20_000) == RoundBudget(20_000, 20_000)
    assert fidelity.budget(2, 3, 25_000) == RoundBudget(20_000, 25_000, 2)


def test_a_round_draws_one_sample_in_time_order_for_all_its_trials() -> None:
    first = subsample(1_000, 300, seed=0, round_=1)
    assert len(first) == 300 and len(np.unique(first)) == 300
    assert np.all(np.diff(first) > 0)
    assert np.array_equal(first, subsample(1_000, 300, seed=0, round_=1))
    assert not np.array_equal(first, subsample(1_000, 300, seed=0, round_=2))
    assert np.array_equal(subsample(50, 50, seed=0, round_=1), np.arange(50))


def test_a_budget_cuts_the_training_rows_and_leaves_the_validation_rows_whole() -> None:
    rng = np.random.default_rng(0)
    fold = Fold(
        rng.normal(size=(900, 3)),
        rng.integers(0, 2, 900),
        rng.normal(size=(100, 3)),
        rng.integers(0, 2, 100),
    )
    (cut,) = folds_at_budget([fold], RoundBudget(300, 900, 2), seed=0, round_=1)
    assert cut.X_train.shape == (300, 3) and len(cut.y_train) == 300
    assert cut.X_val is fold.X_val and cut.y_val is fold.y_val
    keep = subsample(900, 300, seed=0, round_=1)
    assert np.array_equal(cut.X_train, fold.X_train[keep])


@pytest.mark.parametrize("bad", [{"min_rows": 0}, {"reduction_factor": 1}, {"epoch_factor": 0}])
def test_fidelity_refuses_settings_that_cannot_schedule(bad: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        Fidelity(**bad)
