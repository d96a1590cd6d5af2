"""caviar: which configurations to train next, round after round, given the results so far.

A strategy is a pure function of its settings and the results in trial-index order: the same seed
and the same earlier results give the same proposals with the same indices, so a killed search
resumes by handing its finished results back, and (search id, index) is an idempotent trial key.

- caviar, ``CoarseToFine``: many models in parallel; each round is one batch of independent
  trials, and round r + 1 samples from the zoom of all results so far, keeping the candidates
  likelier among the best trials than among the rest (``models.search.promise``).
- panda, ``models.panda.Panda``: one model, babysat in segments (its own module, with the
  rule it decides by between segments).
- ``warm_start``: the configurations a new search on drifted data re-trains first.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from models.search.plan import SearchPlan
from models.search.promise import most_promising
from models.search.space import SearchSpace
from models.search.trials import Proposal, TrialResult, ranked, trial_seed


@dataclass(frozen=True)
class CoarseToFine:
    """caviar: ``rounds`` rounds of ``trials_per_round`` trials, narrowing round after round.

    Round 1 trains the ``initial`` configurations (from ``warm_start``) first and fills the rest of
    the round with random samples of the whole space; round r + 1 samples from the zoom, around
    the ``top_k`` best ok trials so far, of round r's space. An initial configuration that lacks a
    parameter of the space gets it sampled; parameters the space does not search are dropped.

    From round 2, each trial's slot draws ``candidates_per_trial`` samples from the zoom and the
    round keeps the ones with the highest density ratio of the top-k trials to all the others
    (``models.search.promise.most_promising``, kernel ``bandwidth`` on the unit scale). With 1
    candidate per trial a round is plain random samples of the zoom.
    """

    space: SearchSpace
    rounds: int = 4
    trials_per_round: int = 8
    top_k: int = 3
    seed: int = 0
    initial: Sequence[Mapping[str, Any]] = ()
    margin: float = 0.1
    min_width: float = 0.1
    metric: str = "val_accuracy"
    candidates_per_trial: int = 24
    bandwidth: float = 0.15

    def __post_init__(self) -> None:
        if min(self.rounds, self.trials_per_round, self.top_k, self.candidates_per_trial) < 1:
            raise ValueError(
                "rounds, trials_per_round, top_k and candidates_per_trial must each be at least 1"
            )
        if self.bandwidth <= 0:
            raise ValueError(f"bandwidth must be positive, got {self.bandwidth}")
        if len(self.initial) > self.trials_per_round:
            raise ValueError(
                f"{len(self.initial)} warm-start configurations do not fit in a round of "
                f"{self.trials_per_round} trials: raise trials_per_round or lower k"
            )
        object.__setattr__(self, "initial", tuple(dict(c) for c in self.initial))

    @classmethod
    def from_plan(cls, plan: SearchPlan, initial: Sequence[Mapping[str, Any]] = ()) -> CoarseToFine:
        """caviar as a project's plan sets it, first training the warm start's ``initial``."""
        return cls(
            plan.space,
            rounds=plan.rounds,
            trials_per_round=plan.trials_per_round,
            top_k=plan.top_k,
            seed=plan.seed,
            initial=initial,
        )

    @property
    def budget(self) -> int:
        return self.rounds * self.trials_per_round

    def propose(self, results: Sequence[TrialResult]) -> list[Proposal]:
        done = len(results)
        if done % self.trials_per_round:
            raise ValueError(f"{done} results do not end a round of {self.trials_per_round} trials")
        round_ = done // self.trials_per_round + 1
        if round_ > self.rounds:
            return []
        rng = np.random.default_rng([self.seed, round_])
        configs = self.sample_round(round_, results, rng)
        if round_ == 1:
            for slot, config in enumerate(self.initial):
                configs[slot] = {name: config.get(name, configs[slot][name]) for name in self.space}
        return [
            Proposal(
                index=done + i, round=round_, params=params, seed=trial_seed(self.seed, done + i)
            )
            for i, params in enumerate(configs)
        ]

    def sample_round(
        self, round_: int, results: Sequence[TrialResult], rng: np.random.Generator
    ) -> list[dict[str, Any]]:
        """Random samples of the zoom; from round 2, the most promising of several per slot."""
        space = self.space_for(results)
        if round_ == 1 or self.candidates_per_trial == 1 or not ranked(results, self.metric):
            return space.sample(self.trials_per_round, rng)
        candidates = space.sample(self.trials_per_round * self.candidates_per_trial, rng)
        return most_promising(
            self.space,
            candidates,
            results,
            self.trials_per_round,
            top_k=self.top_k,
            bandwidth=self.bandwidth,
            metric=self.metric,
        )

    def space_for(self, results: Sequence[TrialResult]) -> SearchSpace:
        """The space the round after ``results`` samples from (the whole space for round 1)."""
        space = self.space
        completed_rounds = min(len(results) // self.trials_per_round, self.rounds - 1)
        for round_ in range(1, completed_rounds + 1):
            so_far = results[: round_ * self.trials_per_round]
            if ranked(so_far, self.metric):  # a round with no ok trial leaves the space as is
                space = space.zoom(
                    so_far,
                    self.top_k,
                    margin=self.margin,
                    min_width=self.min_width,
                    metric=self.metric,
                )
        return space


def warm_start(
    previous_results: Sequence[TrialResult],
    champion_params: Mapping[str, Any] | None,
    k: int = 3,
    *,
    metric: str = "val_accuracy",
) -> list[dict[str, Any]]:
    """The configurations to re-train first on new data: the champion's, then the previous
    search's ``k`` best distinct ok configurations.

    Only parameters come back, never scores: old scores were measured on old data, so each
    configuration is trained again and judged on the new data.
    """
    if k < 0:
        raise ValueError(f"k must be non-negative, got {k}")
    configs: list[dict[str, Any]] = []
    seen: set[str] = set()

    def add(params: Mapping[str, Any]) -> None:
        key = json.dumps(dict(params), sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            configs.append(dict(params))

    if champion_params:
        add(champion_params)
    wanted = len(configs) + k
    for result in ranked(previous_results, metric):
        if len(configs) >= wanted:
            break
        add(result.params)
    return configs
