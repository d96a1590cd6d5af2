"""A trial: what a search proposes (Proposal) and what training it gave (TrialResult)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

# "pruned": trained healthily, then stopped at a successive-halving rung for ranking low in its
# round (models.search.pruning); its metrics are those of its best epoch so far.
TrialStatus = Literal["ok", "diverged", "failed", "pruned"]


TRIAL_STATUSES: tuple[TrialStatus, ...] = ("ok", "diverged", "failed", "pruned")


# Metrics where smaller is better; every other metric is maximised.
LOWER_IS_BETTER = frozenset({"val_log_loss", "val_loss", "log_loss"})


@dataclass(frozen=True)
class TrialResult:
    """One trained configuration: what was tried, with which seed, and how it did.

    ``index`` and ``round`` are its proposal's, put there by ``Proposal.stamp`` (through
    ``safe_train``, or panda's babysitter). ``params`` are the searched parameters and
    ``settings`` every estimator setting it trained with (``models.trial.estimator_settings``:
    the project's fixed settings under ``params``, seeded). ``metrics`` holds final numbers
    (``val_accuracy``, ``val_log_loss``, ``epochs``, ...); ``curves`` the per-epoch lists
    (``train_loss``, ``val_loss``, ``val_accuracy``, ``learning_rate``); ``error`` says why a
    trial diverged, failed or was pruned. ``extras`` carries strategy-specific records, such
    as panda's learning-rate decisions.
    """

    params: Mapping[str, Any]
    seed: int
    status: TrialStatus
    metrics: Mapping[str, float] = field(default_factory=dict)
    curves: Mapping[str, Sequence[float]] = field(default_factory=dict)
    duration_s: float = 0.0
    round: int = 0
    error: str = ""
    extras: Mapping[str, Any] = field(default_factory=dict)
    index: int = 0
    settings: Mapping[str, Any] = field(default_factory=dict)
    predictions: np.ndarray | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.status not in TRIAL_STATUSES:
            raise ValueError(f"status must be one of {TRIAL_STATUSES}, got {self.status!r}")
        if self.status != "ok" and not self.error:
            raise ValueError(f"a {self.status} trial needs an error saying why")
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))
        object.__setattr__(self, "metrics", MappingProxyType(dict(self.metrics)))
        object.__setattr__(
            self, "curves", MappingProxyType({k: tuple(v) for k, v in self.curves.items()})
        )
        object.__setattr__(self, "extras", MappingProxyType(dict(self.extras)))
        object.__setattr__(self, "settings", MappingProxyType(dict(self.settings)))
        if self.predictions is not None:
            # float32 both live and as stored (trial.json): a resumed search averages the same
            # numbers the uninterrupted one did, so it selects the same ensemble.
            predictions = np.asarray(self.predictions, dtype=np.float32)
            if predictions.ndim != 2:
                raise ValueError(f"predictions must be (rows, classes), got {predictions.shape}")
            predictions.setflags(write=False)
            object.__setattr__(self, "predictions", predictions)

    def __reduce__(self) -> tuple[Any, tuple[dict[str, Any]]]:
        # Mapping proxies cannot be pickled; process-based task runners (Dask) pickle results.
        return (TrialResult.from_dict, (self.to_dict(),))

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def broken(self) -> bool:
        """Diverged or failed: training did not work (a pruned trial trained healthily)."""
        return self.status in ("diverged", "failed")

    @property
    def best_epoch(self) -> int:
        """The epoch (from 1) its weights are kept from: the lowest finite validation loss.

        A cross-validated trial records it (``metrics["best_epoch"]``, the folds' median); with
        no finite validation loss, the last epoch trained.
        """
        recorded = self.metrics.get("best_epoch")
        if recorded is not None and math.isfinite(recorded):
            return max(int(round(recorded)), 1)
        losses = self.curves.get("val_loss", ())
        finite = [(loss, epoch) for epoch, loss in enumerate(losses, 1) if math.isfinite(loss)]
        return min(finite)[1] if finite else max(int(self.metrics.get("epochs", 1)), 1)

    def score(self, metric: str = "val_accuracy") -> float:
        """The metric oriented so that larger is better; -inf when missing or not finite."""
        value = self.metrics.get(metric, math.nan)
        if not math.isfinite(value):
            return -math.inf
        return -value if metric in LOWER_IS_BETTER else value

    def to_dict(self) -> dict[str, Any]:
        return {
            "params": dict(self.params),
            "seed": self.seed,
            "status": self.status,
            "metrics": dict(self.metrics),
            "curves": {k: list(v) for k, v in self.curves.items()},
            "duration_s": self.duration_s,
            "round": self.round,
            "error": self.error,
            "extras": dict(self.extras),
            "index": self.index,
            "settings": dict(self.settings),
            "predictions": None if self.predictions is None else self.predictions.tolist(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrialResult:
        return cls(**dict(data))


def ranked(results: Sequence[TrialResult], metric: str = "val_accuracy") -> list[TrialResult]:
    """The ok trials, best first.

    Ties break deterministically: lower validation log-loss, then earlier round, then the
    earlier trial index.
    """
    ok = [r for r in results if r.ok and math.isfinite(r.score(metric))]
    ok.sort(key=lambda r: (-r.score(metric), -r.score("val_log_loss"), r.round, r.index))
    return ok


def best_trial(results: Sequence[TrialResult], metric: str = "val_accuracy") -> TrialResult:
    """The best ok trial by ``metric``; raises ValueError when no trial finished ok."""
    ordered = ranked(results, metric)
    if not ordered:
        raise ValueError(f"no ok trial with a finite {metric!r} among {len(results)} trials")
    return ordered[0]


@dataclass(frozen=True)
class Proposal:
    """One trial to train: its global position in the search, its round, params and seed."""

    index: int
    round: int
    params: Mapping[str, Any]
    seed: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    def stamp(self, result: TrialResult) -> TrialResult:
        """``result`` as this proposal's trial: its index and round."""
        return dataclasses.replace(result, index=self.index, round=self.round)

    def __reduce__(self) -> tuple[type[Proposal], tuple[int, int, dict[str, Any], int]]:
        # A mapping proxy cannot be pickled; process-based task runners (Dask, Ray) pickle.
        return (Proposal, (self.index, self.round, dict(self.params), self.seed))


def trial_seed(seed: int, index: int) -> int:
    """The training seed of trial ``index``: independent across trials, fixed by the search seed."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0] >> 1)
