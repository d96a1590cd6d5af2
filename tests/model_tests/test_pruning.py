"""Successive halving across a fused round: who stops at a rung, and that nobody else changes.

The rule (models.search.pruning) is checked on its own; then a round trained fused with a pruner
against the same round fused without one, in float64 (the twins of test_fused): every trial is
its unpruned twin up to the epoch it stopped at, survivors are their twins to the end.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from models.fused import train_round
from models.search.pruning import SuccessiveHalving
from models.search.trials import Proposal, TrialResult, trial_seed
from models.trial import make_fused_round, make_train_fn, train_missing, train_round_fused
from tests.model_tests.test_fused import TOL, XV, YV, X, Y, _settings, _trainers


def test_rungs_are_min_epochs_times_powers_of_eta() -> None:
    rule = SuccessiveHalving(min_epochs=2, reduction_factor=3)
    assert [e for e in range(1, 60) if rule.is_rung(e)] == [2, 6, 18, 54]


def test_the_top_ceil_n_over_eta_pass_ranked_by_accuracy_then_loss() -> None:
    rule = SuccessiveHalving(min_epochs=1, reduction_factor=3)
    scores = [(0.7, 0.5), (0.9, 0.4), (0.7, 0.3), (math.nan, math.nan), (0.6, 0.1)]
    assert rule.ranks(scores) == [3, 1, 2, 5, 4]
    assert rule.keep_count(5) == 2 and rule.keep_count(1) == 1 and rule.keep_count(6) == 2


@pytest.mark.parametrize("bad", [{"min_epochs": 0}, {"reduction_factor": 1}])
def test_a_rule_that_prunes_nothing_or_everything_is_refused(bad: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        SuccessiveHalving(**bad)


ROWS = [
    (16, 3e-2, 0.9, 1),
    (24, 1e-4, 0.9, 2),  # too slow to learn much by the rung: pruned
    (32, 1e-2, 0.8, 3),
    (16, 3e-5, 0.9, 4),  # slower still
    (20, 5e-3, 0.9, 5),
    (28, 2e-2, 0.85, 6),
]


def _round(pruner: SuccessiveHalving | None):
    settings = _settings("adam", ROWS, max_epochs=20, patience=None)
    for s in settings[3:]:
        s["n_layers"] = 1  # a second structure: the rung compares across the round's groups
    trainers = _trainers(settings)
    train_round([trainers[:3], trainers[3:]], pruner=pruner)
    return trainers


def test_a_rung_stops_the_round_s_weakest_and_leaves_the_rest_as_they_were() -> None:
    pruner = SuccessiveHalving(min_epochs=3, reduction_factor=3)
    pruned, full = _round(pruner), _round(None)
    stopped = [t for t in pruned if t.stop_reason == "pruned"]
    # 6 live at epoch 3: the top 2 go on; at epoch 9 the better of them.
    assert len(stopped) == 5, [(t.stop_reason, t.epoch) for t in pruned]
    assert sorted(t.epoch for t in stopped) == [3, 3, 3, 3, 9]
    assert all(t.status == "ok" and "ranked" in t.stop_detail for t in stopped)
    assert {1, 3} <= {i for i, t in enumerate(pruned) if t.epoch == 3}  # the slow learners
    assert {i for i, t in enumerate(pruned) if t.epoch == 3} & {0, 1, 2}  # groups compete
    assert {i for i, t in enumerate(pruned) if t.epoch == 3} & {3, 4, 5}
    for cut, whole in zip(pruned, full, strict=True):
        n = cut.epoch
        assert cut.status == whole.status == "ok"
        for name, curve in cut.history.to_dict().items():
            np.testing.assert_allclose(curve, whole.history.to_dict()[name][:n], atol=TOL)
    survivor = next(i for i, t in enumerate(pruned) if t.stop_reason != "pruned")
    assert pruned[survivor].epoch == full[survivor].epoch == 20


def test_a_pruned_model_keeps_its_best_weights_so_far() -> None:
    settings = _settings("adam", ROWS[:3], max_epochs=12, patience=None)
    fused = train_round_fused(
        [
            (
                {"learning_rate": s["learning_rate"], "hidden_units": s["hidden_units"]},
                s["random_state"],
            )
            for s in settings
        ],
        X,
        Y,
        XV,
        YV,
        fixed_params={"n_layers": 2, "batch_size": 32, "max_epochs": 12, "patience": None},
        n_threads=1,
        pruner=SuccessiveHalving(min_epochs=2, reduction_factor=3),
    )
    statuses = [r.status for r in fused]
    assert statuses.count("pruned") == 2 and statuses.count("ok") == 1, statuses
    for r in fused:
        if r.status != "pruned":
            continue
        assert "pruned after epoch 2" in r.error
        assert len(r.curves["val_loss"]) == 2
        # Scored on the best epoch's weights, as every stopped trial is.
        best = int(np.argmin(r.curves["val_loss"]))
        assert r.metrics["val_accuracy"] == pytest.approx(r.curves["val_accuracy"][best], abs=TOL)


def test_without_a_pruner_a_fused_round_is_the_trials_trained_alone() -> None:
    fixed = {"n_layers": 2, "batch_size": 32, "max_epochs": 5, "patience": 3}
    proposals = [
        Proposal(
            index=i,
            round=0,
            params={"learning_rate": lr, "hidden_units": 16},
            seed=trial_seed(0, i),
        )
        for i, lr in enumerate([1e-2, 3e-3])
    ]
    fused = make_fused_round(X, Y, XV, YV, fixed_params=fixed, n_threads=1)(proposals)
    train_fn = make_train_fn(X, Y, XV, YV, fixed_params=fixed, n_threads=1)
    for p, r in zip(proposals, fused, strict=True):
        alone = train_fn(dict(p.params), p.seed)
        assert (r.index, r.round, r.status) == (p.index, 0, alone.status)
        np.testing.assert_allclose(r.curves["val_loss"], alone.curves["val_loss"], atol=TOL)


def test_a_resumed_round_trains_its_missing_trials_as_the_whole_round_did() -> None:
    fixed = {"n_layers": 1, "batch_size": 32, "max_epochs": 8, "patience": None}
    rates = [3e-2, 1e-4, 1e-2, 3e-5, 5e-3, 2e-2]
    proposals = [
        Proposal(index=i, round=1, params={"learning_rate": lr, "hidden_units": 16 + 4 * i},
                 seed=trial_seed(0, i))
        for i, lr in enumerate(rates)
    ]  # fmt: skip
    round_fn = make_fused_round(
        X, Y, XV, YV, fixed_params=fixed, n_threads=1, pruner=SuccessiveHalving(2, 3)
    )
    whole = round_fn(proposals)
    logged = {r.index: r for r in whole[:3]}  # killed after logging half the round
    resumed = train_missing(round_fn, proposals[3:], logged)
    assert [_untimed(r) for r in resumed] == [_untimed(r) for r in whole[3:]]
    alone = round_fn(proposals[3:])  # without its peers the rung ranks another field
    assert [_untimed(r) for r in alone] != [_untimed(r) for r in whole[3:]]


def _untimed(result: TrialResult) -> dict[str, Any]:
    """A result's record without its clock readings."""
    record = result.to_dict()
    record.pop("duration_s")
    record["metrics"].pop("train_seconds")
    return record
