"""panda: babysit one model, segment by segment, deciding the learning rate between segments.

After each segment the babysitter reads the validation-loss curve it just produced and decides:
keep the learning rate alpha while the loss falls, decay it on a plateau, cut it and restore the
last good state when the loss explodes, or stop when it has converged. Each decision is kept with
its reason and the curve it saw. A person may give alpha for every segment instead; the
babysitter then follows that schedule. ``step()`` runs one segment, so a flow can run each
segment as its own task.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import torch
from numpy.typing import ArrayLike
from torch import nn

from models.estimator import BNSoftmaxClassifier
from models.search.plan import SearchPlan
from models.search.trials import Proposal, TrialResult, trial_seed
from models.training import Snapshot, Trainer
from models.trial import estimator_settings, trial_from_classifier


class Babysitter:
    """Trains one BNSoftmaxClassifier in ``segments`` of ``epochs_per_segment`` epochs.

    ``start(...)``, then ``step()`` until ``done``, then ``result()``. With ``schedule`` (alpha
    for each segment) the rates are followed as given, and a divergence ends the run.
    """

    def __init__(
        self,
        params: Mapping[str, Any],
        segments: int,
        epochs_per_segment: int,
        seed: int,
        *,
        schedule: Sequence[float] | None = None,
        rules: BabysitterRules | None = None,
        n_threads: int | None = None,
        fixed: Mapping[str, Any] | None = None,
    ) -> None:
        if segments < 1 or epochs_per_segment < 1:
            raise ValueError("segments and epochs_per_segment must each be at least 1")
        if schedule is not None and len(schedule) != segments:
            raise ValueError(f"the schedule gives {len(schedule)} rates for {segments} segments")
        if schedule is not None and not all(alpha > 0 for alpha in schedule):
            raise ValueError(f"every scheduled learning rate must be positive: {list(schedule)}")
        self.params = dict(params)
        self.fixed = dict(fixed or {})
        self.segments, self.epochs_per_segment, self.seed = segments, epochs_per_segment, seed
        self.schedule = None if schedule is None else [float(a) for a in schedule]
        self.rules = rules or BabysitterRules()
        self.n_threads = n_threads
        self.decisions: list[Decision] = []
        self._trainer: Trainer | None = None
        self._failure = ""  # why the run counts as diverged, when it does
        self._seconds = 0.0
        self._stopped = False

    @classmethod
    def for_proposal(
        cls, plan: SearchPlan, proposal: Proposal, *, n_threads: int | None = None
    ) -> Babysitter:
        """The babysitter of panda's one ``proposal``, as the project's plan sets it."""
        return cls(
            proposal.params,
            plan.panda.segments,
            plan.panda.epochs_per_segment,
            proposal.seed,
            schedule=plan.panda.schedule,
            n_threads=n_threads,
            fixed=plan.fixed,
        )

    @property
    def done(self) -> bool:
        return self._stopped

    def start(
        self, X_train: ArrayLike, y_train: ArrayLike, X_val: ArrayLike, y_val: ArrayLike
    ) -> None:
        """Build the model and its trainer; the babysitter, not early stopping, ends the run."""
        settings = estimator_settings(
            self.fixed,
            self.params,
            self.seed,
            max_epochs=self.segments * self.epochs_per_segment,
            patience=None,
        )
        if self.schedule is not None:
            settings["learning_rate"] = self.schedule[0]
        if self.n_threads is not None:
            settings["n_threads"] = self.n_threads
        self.model = BNSoftmaxClassifier(**settings)
        self._X_val, self._y_val = X_val, y_val
        self._trainer = self.model.start_training(X_train, y_train, eval_set=(X_val, y_val))
        self._good: Snapshot = self._trainer.snapshot()
        self._best = _untrained_val_loss(self._trainer)
        self._decays = self._cuts = self._kept = 0

    def step(self) -> Decision:
        """Train one segment, decide what comes next, apply it and return the decision."""
        trainer = self._trainer
        if trainer is None or self._stopped:
            raise RuntimeError(
                "call start() first" if trainer is None else "the babysitter is done"
            )
        alpha, seen = trainer.learning_rate, len(trainer.history)
        started = time.perf_counter()
        trainer.train(self.epochs_per_segment)
        self._seconds += time.perf_counter() - started
        curve = tuple(trainer.history.val_loss[seen:])
        segment = len(self.decisions) + 1
        if self.schedule is None:
            ruling = self._apply(trainer, curve, alpha)
        else:
            ruling = self._follow(trainer, segment, alpha)
        action, next_alpha, reason = ruling.action, ruling.next_learning_rate, ruling.reason
        if segment >= self.segments and action != "stop":
            restored = "; back at the last good state" if action == "cut_and_restore" else ""
            action, next_alpha = "stop", None
            reason = f"{ruling.finding}: last of {self.segments} segments, stop{restored}"
        self._stopped = action == "stop"
        decision = Decision(segment, alpha, action, next_alpha, reason, curve)
        self.decisions.append(decision)
        return decision

    def _follow(self, trainer: Trainer, segment: int, alpha: float) -> Ruling:
        assert self.schedule is not None
        if trainer.status == "diverged":
            self._failure = f"diverged at alpha={alpha:.3g} in segment {segment} of the schedule"
            return Ruling(
                "stop", None, self._failure, "a given schedule is followed, not corrected"
            )
        if segment >= self.segments:
            return Ruling("stop", None, "the schedule is finished", "stop")
        next_alpha = self.schedule[segment]
        trainer.set_learning_rate(next_alpha)
        return Ruling("follow_schedule", next_alpha, "as scheduled", f"alpha -> {next_alpha:.3g}")

    def _apply(self, trainer: Trainer, curve: tuple[float, ...], alpha: float) -> Ruling:
        """Decide by the rule and act on it: remember a good state, change alpha, restore."""
        diverged = trainer.status == "diverged"
        ruling = decide(
            curve,
            self._best,
            alpha,
            diverged=diverged,
            decays=self._decays,
            cuts=self._cuts,
            rules=self.rules,
        )
        if ruling.action in ("keep", "decay"):
            self._best, self._kept = min((self._best, *curve)), self._kept + 1
            self._good = trainer.snapshot()
        elif ruling.action == "cut_and_restore":
            self._cuts += 1
            trainer.restore(self._good)
        elif ruling.action == "stop" and self._cuts >= self.rules.max_cuts:
            trainer.restore(self._good)  # end on the last good weights
            if not self._kept:
                self._failure = f"no learning rate tried could train the model: {ruling.finding}"
        if ruling.action == "decay":
            self._decays += 1
        if ruling.next_learning_rate is not None and ruling.action != "keep":
            trainer.set_learning_rate(ruling.next_learning_rate)
        return ruling

    def result(self) -> TrialResult:
        """The trial, scored on the validation set, with the decisions in ``extras``."""
        if self._trainer is None:
            raise RuntimeError("call start() and step() first")
        self.model.finish_training(self._trainer, self._seconds)
        result = trial_from_classifier(
            self.model,
            self._X_val,
            self._y_val,
            params=self.params,
            seed=self.seed,
            seconds=self._seconds,
        )
        if self._failure:
            result = dataclasses.replace(result, status="diverged", error=self._failure)
        decisions = [d.to_dict() for d in self.decisions]
        # The configuration, as caviar's trials record theirs: the babysitter's own control (the
        # segment budget, no early stopping, the rates it chose) is in the decisions.
        settings = estimator_settings(self.fixed, self.params, self.seed)
        return dataclasses.replace(
            result, settings=settings, extras={**result.extras, "decisions": decisions}
        )


def _untrained_val_loss(trainer: Trainer) -> float:
    """The validation loss before any training: the bar a first segment must not explode past."""
    if trainer.x_val is None or trainer.y_val is None:
        return math.inf
    trainer.model.eval()
    with torch.inference_mode():
        logits = trainer.model(trainer.x_val)
        return float(nn.functional.cross_entropy(logits, trainer.y_val).item())


@dataclass(frozen=True)
class Panda:
    """panda: one configuration, trained once by a babysitter (flows step its segments).

    As a strategy it proposes a single trial, so ``run_search`` can drive it like caviar; a flow
    that wants one task per segment steps a ``Babysitter`` itself instead.
    """

    params: Mapping[str, Any]
    seed: int = 0

    @classmethod
    def from_plan(cls, plan: SearchPlan, params: Mapping[str, Any]) -> Panda:
        return cls(params, seed=plan.seed)

    def propose(self, results: Sequence[TrialResult]) -> list[Proposal]:
        if results:
            return []
        return [Proposal(index=0, round=1, params=self.params, seed=trial_seed(self.seed, 0))]


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
