"""Search strategies: which configurations to train next, given the results so far.

A strategy is a pure function of its settings and the results in trial-index order: the same seed
and the same earlier results give the same proposals with the same indices, so a killed search
resumes by handing its finished results back, and (search id, index) is an idempotent trial key.

- caviar, ``CoarseToFine``: many models in parallel; each round is one batch of independent
  trials, and round r + 1 samples from the zoom of all results so far, keeping the candidates
  likelier among the best trials than among the rest (``models.promise``).
- panda, ``Panda``: one model, babysat in segments by ``models.babysitter.Babysitter``; the
  rule it decides by between segments, ``decide``, lives here.
- ``warm_start``: the configurations a new search on drifted data re-trains first.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, NamedTuple, Protocol

import numpy as np

from models.promise import most_promising
from models.search import SearchSpace
from models.selection import TrialResult, ranked


@dataclass(frozen=True)
class Proposal:
    """One trial to train: its global position in the search, its round, params and seed."""

    index: int
    round: int
    params: Mapping[str, Any]
    seed: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    def __reduce__(self) -> tuple[type[Proposal], tuple[int, int, dict[str, Any], int]]:
        # A mapping proxy cannot be pickled; process-based task runners (Dask, Ray) pickle.
        return (Proposal, (self.index, self.round, dict(self.params), self.seed))


class Strategy(Protocol):
    """Proposes the next round from the results of every earlier proposal, in index order."""

    def propose(self, results: Sequence[TrialResult]) -> list[Proposal]:
        """The next round's proposals, all known before any trains; empty when finished."""
        ...


def trial_seed(seed: int, index: int) -> int:
    """The training seed of trial ``index``: independent across trials, fixed by the search seed."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0] >> 1)


@dataclass(frozen=True)
class CoarseToFine:
    """caviar: ``rounds`` rounds of ``trials_per_round`` trials, narrowing round after round.

    Round 1 trains the ``initial`` configurations (from ``warm_start``) first and fills the rest of
    the round with random samples of the whole space; round r + 1 samples from the zoom, around
    the ``top_k`` best ok trials so far, of round r's space. An initial configuration that lacks a
    parameter of the space gets it sampled; parameters the space does not search are dropped.

    From round 2, each trial's slot draws ``candidates_per_trial`` samples from the zoom and the
    round keeps the ones with the highest density ratio of the top-k trials to all the others
    (``models.promise.most_promising``, kernel ``bandwidth`` on the unit scale). With 1 candidate
    per trial a round is plain random samples of the zoom.
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


@dataclass(frozen=True)
class Panda:
    """panda: one configuration, trained once by a babysitter (flows step its segments).

    As a strategy it proposes a single trial, so ``run_search`` can drive it like caviar; a flow
    that wants one task per segment steps a ``Babysitter`` itself instead.
    """

    params: Mapping[str, Any]
    seed: int = 0

    def propose(self, results: Sequence[TrialResult]) -> list[Proposal]:
        if results:
            return []
        return [Proposal(index=0, round=1, params=self.params, seed=trial_seed(self.seed, 0))]


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


Action = Literal["keep", "decay", "cut_and_restore", "stop", "follow_schedule"]


@dataclass(frozen=True)
class BabysitterRules:
    """When a curve counts as a plateau or an explosion, and what to do about it.

    A plateau: the segment lowered the best validation loss by less than ``plateau_tolerance``
    (relative). An explosion: training diverged, or the segment ended above ``explode_ratio``
    times the best loss before it. A plateau after ``max_decays`` decays means converged; an
    explosion after ``max_cuts`` cuts means no learning rate tried could train the model.
    """

    plateau_tolerance: float = 0.01
    explode_ratio: float = 1.5
    decay_factor: float = 0.5
    cut_factor: float = 0.1
    max_decays: int = 3
    max_cuts: int = 3

    def __post_init__(self) -> None:
        if not (0 < self.decay_factor < 1 and 0 < self.cut_factor < 1):
            raise ValueError("decay_factor and cut_factor must lie in (0, 1)")
        if self.plateau_tolerance < 0 or self.explode_ratio <= 1:
            raise ValueError("need plateau_tolerance >= 0 and explode_ratio > 1")
        if self.max_decays < 0 or self.max_cuts < 0:
            raise ValueError("max_decays and max_cuts must be non-negative")


@dataclass(frozen=True)
class Decision:
    """What the babysitter did after one segment, why, and the validation curve it saw."""

    segment: int
    learning_rate: float
    action: Action
    next_learning_rate: float | None
    reason: str
    val_loss: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "val_loss": list(self.val_loss)}


class Ruling(NamedTuple):
    """What a segment's curve showed (``finding``) and what to do about it (``remedy``)."""

    action: Action
    next_learning_rate: float | None
    finding: str
    remedy: str

    @property
    def reason(self) -> str:
        return f"{self.finding}: {self.remedy}"


def decide(
    val_loss: Sequence[float],
    best_before: float,
    alpha: float,
    *,
    diverged: bool = False,
    decays: int = 0,
    cuts: int = 0,
    rules: BabysitterRules | None = None,
) -> Ruling:
    """The automatic rule for one segment's validation-loss curve, trained at rate ``alpha``.

    ``best_before`` is the lowest validation loss before the segment, the untrained model's
    included, so the first segment is judged too; ``decays`` and ``cuts`` count earlier ones.
    """
    rules = rules or BabysitterRules()
    last = val_loss[-1] if val_loss else math.nan
    if diverged or not math.isfinite(last):
        finding = "loss diverged (NaN, inf, or training loss above the untrained model's)"
    elif last > rules.explode_ratio * best_before:
        finding = (
            f"loss exploded: ended at {last:.4g}, over {rules.explode_ratio}x the best "
            f"{best_before:.4g}"
        )
    else:
        return _judge_progress(min(val_loss), best_before, alpha, decays, rules)
    if cuts >= rules.max_cuts:
        return Ruling("stop", None, finding, f"{cuts} cuts already: stop at the last good state")
    cut = alpha * rules.cut_factor
    remedy = f"restore the last good state, cut alpha {alpha:.3g} -> {cut:.3g}"
    return Ruling("cut_and_restore", cut, finding, remedy)


def _judge_progress(
    best: float, best_before: float, alpha: float, decays: int, rules: BabysitterRules
) -> Ruling:
    gain = (best_before - best) / max(abs(best_before), 1e-12)
    finding = f"best val loss {best:.4g} against {best_before:.4g} before ({-100 * gain:+.2f}%)"
    if gain >= rules.plateau_tolerance:
        return Ruling("keep", alpha, finding, f"still falling, keep alpha {alpha:.3g}")
    if decays >= rules.max_decays:
        return Ruling("stop", None, finding, f"plateau after {decays} decays: converged")
    decayed = alpha * rules.decay_factor
    return Ruling("decay", decayed, finding, f"plateau, decay alpha {alpha:.3g} -> {decayed:.3g}")
