"""The contract every search strategy keeps, each test run over every strategy below.

A strategy is a pure function of its settings and the results in index order: indices continue
without gaps, rounds count from 1, the same seed and history give the same proposals, a resumed
search proposes again what it proposed before, every value lies inside the space, trial seeds
are ``trial_seed(search seed, index)``, and the search ends on its budget. A strategy added
later joins by adding a ``Case``.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from models import CoarseToFine, Panda, run_search, safe_train, warm_start
from models.search.discrete import IntUniform, PowerOfTwo
from models.search.distributions import LogOneMinus, LogUniform, Uniform
from models.search.driver import Strategy
from models.search.plan import SearchPlan
from models.search.space import SearchSpace
from models.search.trials import Proposal, TrialResult, trial_seed

SPACE = SearchSpace.default()
SEED = 7
CHAMPION = {
    "learning_rate": 2e-3,
    "momentum": 0.95,
    "n_layers": 2,
    "hidden_units": 64,
    "batch_size": 32,
}


def fake_train(params: Mapping[str, Any], seed: int) -> TrialResult:
    """Accuracy a smooth function of log10(learning rate), best at 3e-3; no torch, instant.

    A learning rate above 0.03 diverges; one seed in five raises (a ``failed`` trial).
    """
    if seed % 5 == 0:
        raise RuntimeError(f"out of memory (seed {seed})")
    miss = abs(math.log10(params["learning_rate"] / 3e-3))
    accuracy = 0.95 - 0.1 * miss - 0.005 * abs(params["n_layers"] - 2)
    metrics = {"val_accuracy": accuracy, "val_log_loss": 1 - accuracy}
    if params["learning_rate"] > 0.03:
        return TrialResult(params, seed, "diverged", {"val_accuracy": 0.99}, error="loss was nan")
    return TrialResult(params, seed, "ok", metrics)


def previous_search() -> list[TrialResult]:
    configs = [{**CHAMPION, "learning_rate": lr} for lr in (1e-3, 5e-3, 3e-2)]
    return [fake_train(c, 1) for c in configs]


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[int], Strategy]  # the strategy for a search seed
    budget: int


def plan(seed: int, **fields: Any) -> SearchPlan:
    return SearchPlan(SPACE, rounds=3, trials_per_round=4, top_k=2, seed=seed, **fields)


WARM = [
    *warm_start(previous_search(), CHAMPION, k=1),
    {"learning_rate": 1e-2, "max_epochs": 9},  # lacks most parameters, has one not searched
]
CASES = [
    Case(
        "caviar", lambda s: CoarseToFine(SPACE, rounds=3, trials_per_round=4, top_k=2, seed=s), 12
    ),
    Case(
        "caviar-warm",
        lambda s: CoarseToFine(SPACE, rounds=3, trials_per_round=4, top_k=2, seed=s, initial=WARM),
        12,
    ),
    Case("caviar-plan", lambda s: CoarseToFine.from_plan(plan(s), plan(s).warm_configs(WARM)), 12),
    Case("panda", lambda s: Panda.from_plan(plan(s, strategy="panda"), CHAMPION), 1),
]
contract = pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])


def drive(
    strategy: Strategy, results: Sequence[TrialResult] = (), limit: int = 100
) -> tuple[list[list[Proposal]], list[TrialResult]]:
    """Every round proposed from ``results`` on, and all results, training with fake_train."""
    rounds, results = [], list(results)
    while proposals := strategy.propose(tuple(results)):
        rounds.append(proposals)
        results += [safe_train(fake_train, p) for p in proposals]
        assert len(results) <= limit, "the strategy never ends"
    return rounds, results


def flat(rounds: Sequence[Sequence[Proposal]]) -> list[Proposal]:
    return [p for r in rounds for p in r]


def timeless(results: Sequence[TrialResult]) -> list[TrialResult]:
    """Results without their wall-clock time, the one field a rerun may change."""
    return [dataclasses.replace(r, duration_s=0.0) for r in results]


def test_the_fake_exercises_every_status() -> None:
    statuses = {r.status for case in CASES for r in drive(case.make(SEED))[1]}
    assert statuses == {"ok", "diverged", "failed"}


@contract
def test_indices_continue_and_rounds_count_from_one(case: Case) -> None:
    rounds, _ = drive(case.make(SEED))
    fed = 0
    for proposals in rounds:
        assert [p.index for p in proposals] == list(range(fed, fed + len(proposals)))
        fed += len(proposals)
    numbers = [p.round for p in flat(rounds)]
    assert numbers[0] == 1
    assert all(b >= a for a, b in zip(numbers, numbers[1:], strict=False)), numbers
    assert run_search(case.make(SEED), fake_train).results  # the driver's _check_round agrees


@contract
def test_same_seed_same_proposals_other_seed_others(case: Case) -> None:
    first = flat(drive(case.make(SEED))[0])
    again = flat(drive(case.make(SEED))[0])
    assert [(p.index, p.round, dict(p.params), p.seed) for p in again] == [
        (p.index, p.round, dict(p.params), p.seed) for p in first
    ]
    assert flat(drive(case.make(SEED + 1))[0]) != first


class Recorder:
    """fake_train, keeping the seed of every trial it trains."""

    def __init__(self) -> None:
        self.seeds: list[int] = []

    def __call__(self, params: Mapping[str, Any], seed: int) -> TrialResult:
        self.seeds.append(seed)
        return fake_train(params, seed)


def resume_points(budget: int) -> list[int]:
    return sorted({k for k in (0, 1, 4, 6, 8, budget - 1, budget) if 0 <= k <= budget})


@contract
def test_a_resumed_search_proposes_again_what_it_proposed(case: Case) -> None:
    rounds, results = drive(case.make(SEED))
    starts = [r[0].index for r in rounds]
    for k in resume_points(case.budget):
        # A fresh strategy sees the results up to the start of the round trial k belongs to.
        start = max((s for s in starts if s <= k), default=len(results))
        resumed = case.make(SEED)
        later, rest = drive(resumed, results[:start])
        assert flat(later) == flat(rounds)[start:], f"resumed after {k} results"
        assert timeless(rest) == timeless(results)
        counting = Recorder()
        done = {r.index: r for r in results[:k]}
        outcome = run_search(case.make(SEED), counting, completed=done)
        assert counting.seeds == [p.seed for p in flat(rounds)[k:]], f"resumed after {k} results"
        assert timeless(outcome.results) == timeless(results)


@contract
def test_propose_is_pure(case: Case) -> None:
    strategy = case.make(SEED)
    rounds, results = drive(strategy)
    settings = copy.deepcopy(strategy)
    for start in [r[0].index for r in rounds] + [len(results)]:
        history = list(results[:start])
        before = [r.to_dict() for r in history]
        first, second = strategy.propose(history), strategy.propose(history)
        assert first == second
        assert [r.to_dict() for r in history] == before and len(history) == start
    assert strategy == settings


@contract
def test_every_value_lies_inside_the_space(case: Case) -> None:
    for proposal in flat(drive(case.make(SEED))[0]):
        assert set(proposal.params) == set(SPACE), proposal
        for name, dist in SPACE.items():
            value = proposal.params[name]
            assert dist.contains(value), (name, value, dist)
            if isinstance(dist, IntUniform | PowerOfTwo):
                assert type(value) is int, (name, value)
            if isinstance(dist, LogUniform | LogOneMinus | Uniform):
                assert type(value) is float, (name, value)
                assert dist.low <= value <= dist.high, (name, value)
            if isinstance(dist, PowerOfTwo):
                assert value > 0 and value & (value - 1) == 0, (name, value)
                assert dist.low <= value <= dist.high, (name, value)


@contract
def test_the_search_ends_on_its_budget(case: Case) -> None:
    strategy = case.make(SEED)
    rounds, results = drive(strategy)
    assert len(flat(rounds)) == len(results) == case.budget
    assert strategy.propose(tuple(results)) == []
    assert strategy.propose(tuple(results)) == []  # and stays ended
    assert len(run_search(case.make(SEED), fake_train).results) == case.budget


@contract
def test_trial_seeds_are_distinct_and_derived_from_the_search_seed(case: Case) -> None:
    proposals = flat(drive(case.make(SEED))[0])
    seeds = [p.seed for p in proposals]
    assert len(set(seeds)) == len(seeds)
    assert seeds == [trial_seed(SEED, p.index) for p in proposals]
