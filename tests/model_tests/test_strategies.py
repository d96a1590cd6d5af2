"""caviar (CoarseToFine), warm start, and panda (the decision rule and a real babysitter)."""

from __future__ import annotations

import json
import math
import pickle
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest

from models import (
    Babysitter,
    BabysitterRules,
    CoarseToFine,
    Panda,
    Proposal,
    SearchSpace,
    decide,
    warm_start,
)
from models.search.trials import TrialResult

OPTIMUM = 3e-3


def synthetic(proposal: Proposal) -> TrialResult:
    """A made-up validation accuracy, best at learning_rate = 3e-3: no torch, instant."""
    miss = abs(math.log10(proposal.params["learning_rate"] / OPTIMUM))
    accuracy = 0.95 - 0.1 * miss - 0.005 * abs(proposal.params["n_layers"] - 2)
    metrics = {"val_accuracy": accuracy, "val_log_loss": 1 - accuracy}
    return TrialResult(proposal.params, proposal.seed, "ok", metrics, round=proposal.round)


def run_through(strategy: CoarseToFine) -> list[list[Proposal]]:
    rounds, results = [], []
    while proposals := strategy.propose(results):
        rounds.append(proposals)
        results += [synthetic(p) for p in proposals]
    return rounds


def lr_miss(proposals: Sequence[Proposal]) -> float:
    return float(
        np.median([abs(math.log10(p.params["learning_rate"] / OPTIMUM)) for p in proposals])
    )


def test_coarse_to_fine_rounds_indices_and_seeds() -> None:
    strategy = CoarseToFine(SearchSpace.default(), rounds=3, trials_per_round=4, top_k=2, seed=5)
    rounds = run_through(strategy)
    assert [len(r) for r in rounds] == [4, 4, 4]
    flat = [p for r in rounds for p in r]
    assert [p.index for p in flat] == list(range(12))
    assert [p.round for p in flat] == [1] * 4 + [2] * 4 + [3] * 4
    assert len({p.seed for p in flat}) == 12
    assert all(0 <= p.seed < 2**31 for p in flat)


def test_same_seed_same_proposals_other_seed_others() -> None:
    space = SearchSpace.default()
    first = run_through(CoarseToFine(space, rounds=3, trials_per_round=5, seed=11))
    assert run_through(CoarseToFine(space, rounds=3, trials_per_round=5, seed=11)) == first
    assert run_through(CoarseToFine(space, rounds=3, trials_per_round=5, seed=12)) != first


def test_later_rounds_sample_inside_the_zoom_of_earlier_results() -> None:
    strategy = CoarseToFine(SearchSpace.default(), rounds=3, trials_per_round=6, top_k=2, seed=2)
    rounds = run_through(strategy)
    results = [synthetic(p) for p in rounds[0] + rounds[1]]
    for round_, proposals in ((2, rounds[1]), (3, rounds[2])):
        space = strategy.space_for(results[: (round_ - 1) * 6])
        assert all(space.contains(p.params) for p in proposals)
    assert strategy.space_for(results[:6]) != strategy.space


@pytest.mark.parametrize("seed", range(5))
def test_proposals_close_in_on_the_optimum(seed: int) -> None:
    rounds = run_through(
        CoarseToFine(SearchSpace.default(), rounds=3, trials_per_round=8, top_k=3, seed=seed)
    )
    assert lr_miss(rounds[2]) < 0.5 * lr_miss(rounds[0])


def test_a_round_without_ok_trials_keeps_the_space() -> None:
    strategy = CoarseToFine(SearchSpace.default(), rounds=2, trials_per_round=3, seed=0)
    failed = [
        TrialResult(p.params, p.seed, "failed", error="out of memory") for p in strategy.propose([])
    ]
    assert strategy.space_for(failed) == strategy.space
    assert len(strategy.propose(failed)) == 3


def test_warm_start_configurations_open_round_one() -> None:
    space = SearchSpace.default()
    champion = {
        "learning_rate": 2e-3,
        "momentum": 0.95,
        "n_layers": 2,
        "hidden_units": 64,
        "batch_size": 32,
        "max_epochs": 99,
    }
    partial = {"learning_rate": 1e-2}  # a configuration from before n_layers was searched
    strategy = CoarseToFine(
        space, rounds=2, trials_per_round=4, seed=0, initial=[champion, partial]
    )
    proposals = strategy.propose([])
    assert dict(proposals[0].params) == {k: v for k, v in champion.items() if k != "max_epochs"}
    assert proposals[1].params["learning_rate"] == 1e-2
    assert space.contains(proposals[1].params)
    random_only = CoarseToFine(space, rounds=2, trials_per_round=4, seed=0).propose([])
    assert [p.params for p in proposals[2:]] == [p.params for p in random_only[2:]]
    with pytest.raises(ValueError, match="do not fit in a round"):
        CoarseToFine(space, trials_per_round=1, initial=[champion, partial])


def ok(params: Mapping[str, Any], accuracy: float) -> TrialResult:
    return TrialResult(params, 0, "ok", {"val_accuracy": accuracy, "val_log_loss": 1 - accuracy})


def test_warm_start_proposes_the_champion_first_then_distinct_previous_best() -> None:
    previous = [
        ok({"learning_rate": 1e-3}, 0.70),
        ok({"learning_rate": 2e-3}, 0.90),
        TrialResult({"learning_rate": 9e-2}, 0, "diverged", {"val_accuracy": 0.99}, error="nan"),
        ok({"learning_rate": 3e-3}, 0.80),
        ok({"learning_rate": 4e-3}, 0.75),
    ]
    configs = warm_start(previous, {"learning_rate": 2e-3}, k=2)
    # The champion equals the previous best: not repeated, and two other previous configs follow.
    assert configs == [{"learning_rate": 2e-3}, {"learning_rate": 3e-3}, {"learning_rate": 4e-3}]
    assert warm_start(previous, None, k=2) == [{"learning_rate": 2e-3}, {"learning_rate": 3e-3}]
    assert warm_start([], {"learning_rate": 5e-3}, k=3) == [{"learning_rate": 5e-3}]
    # Only parameters come back: old scores were measured on old data.
    assert all(set(c) == {"learning_rate"} for c in configs)


def test_panda_proposes_one_trial() -> None:
    strategy = Panda({"learning_rate": 1e-2}, seed=3)
    (proposal,) = strategy.propose([])
    assert proposal.index == 0 and proposal.params == {"learning_rate": 1e-2}
    assert (
        strategy.propose([synthetic(Proposal(0, 1, {"learning_rate": 1e-2, "n_layers": 2}, 0))])
        == []
    )


def test_rule_cuts_the_rate_on_an_exploding_curve() -> None:
    ruling = decide([0.40, 0.90, 2.50], best_before=0.40, alpha=0.1)
    assert ruling.action == "cut_and_restore"
    assert ruling.next_learning_rate == pytest.approx(0.01)
    assert "exploded" in ruling.reason
    diverged = decide([0.5, math.nan], best_before=0.6, alpha=0.1, diverged=True)
    assert diverged.action == "cut_and_restore" and "diverged" in diverged.reason
    exhausted = decide([0.5, math.inf], best_before=0.6, alpha=1e-4, cuts=3)
    assert exhausted.action == "stop" and exhausted.next_learning_rate is None


def test_rule_decays_on_a_plateau_keeps_while_falling_and_stops_when_converged() -> None:
    plateau = decide([0.301, 0.300, 0.3005], best_before=0.301, alpha=0.1)
    assert plateau.action == "decay" and plateau.next_learning_rate == pytest.approx(0.05)
    falling = decide([0.35, 0.30, 0.27], best_before=0.40, alpha=0.1)
    assert falling.action == "keep" and falling.next_learning_rate == 0.1
    rules = BabysitterRules(max_decays=2)
    converged = decide([0.300, 0.300], best_before=0.300, alpha=0.025, decays=2, rules=rules)
    assert converged.action == "stop" and "converged" in converged.reason


def tiny_data(seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(256, 8)).astype(np.float32)
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    return X[:128], y[:128], X[128:], y[128:]


def babysit(sitter: Babysitter, *data: np.ndarray) -> TrialResult:
    """Run a babysitter from its start to its last decision, as the retune flow steps it."""
    sitter.start(*data)
    while not sitter.done:
        sitter.step()
    return sitter.result()


def test_babysitter_cuts_an_exploding_rate_and_restores_the_good_state() -> None:
    sitter = Babysitter(
        {"learning_rate": 50.0, "optimizer": "sgd", "batch_size": 16},
        segments=4,
        epochs_per_segment=2,
        seed=0,
        n_threads=1,
    )
    result = babysit(sitter, *tiny_data())
    decisions = result.extras["decisions"]
    assert decisions[0]["action"] == "cut_and_restore"
    assert decisions[1]["learning_rate"] == pytest.approx(5.0)
    assert result.status == "ok" and result.metrics["val_accuracy"] > 0.7
    # The restored run kept no epoch of the exploded segment.
    assert 50.0 not in result.curves["learning_rate"]
    json.dumps(decisions)  # plain values, ready to log as a table


def test_babysitter_decays_on_a_real_plateau() -> None:
    sitter = Babysitter(
        {"learning_rate": 1e-7, "batch_size": 32},
        segments=3,
        epochs_per_segment=1,
        seed=0,
        n_threads=1,
    )
    sitter.start(*tiny_data())
    first = sitter.step()
    assert first.action == "decay" and first.next_learning_rate == pytest.approx(5e-8)
    assert sitter.step().learning_rate == pytest.approx(5e-8)
    assert sitter.step().action == "stop" and sitter.done
    with pytest.raises(RuntimeError, match="babysitter is done"):
        sitter.step()


def test_babysitter_follows_a_given_schedule() -> None:
    schedule = [0.1, 0.01, 0.001]
    sitter = Babysitter(
        {"learning_rate": 0.5},
        segments=3,
        epochs_per_segment=2,
        seed=1,
        schedule=schedule,
        n_threads=1,
    )
    with pytest.raises(RuntimeError, match="start"):
        sitter.step()
    result = babysit(sitter, *tiny_data())
    assert list(result.curves["learning_rate"]) == pytest.approx([0.1, 0.1, 0.01, 0.01, 1e-3, 1e-3])
    actions = [d["action"] for d in result.extras["decisions"]]
    assert actions == ["follow_schedule", "follow_schedule", "stop"]
    with pytest.raises(ValueError, match="3 rates for 2 segments"):
        Babysitter({}, segments=2, epochs_per_segment=1, seed=0, schedule=schedule)


def test_proposals_and_strategies_pickle_for_process_based_task_runners() -> None:
    strategy = CoarseToFine(SearchSpace.default(), seed=3, initial=[{"learning_rate": 1e-3}])
    assert pickle.loads(pickle.dumps(strategy)) == strategy
    proposals = strategy.propose([])
    assert pickle.loads(pickle.dumps(proposals)) == proposals
