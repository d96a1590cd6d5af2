"""Trial results and the pure decisions taken on them: the best trial, the promotion gate."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

TrialStatus = Literal["ok", "diverged", "failed"]
TRIAL_STATUSES: tuple[TrialStatus, ...] = ("ok", "diverged", "failed")
# Metrics where smaller is better; every other metric is maximised.
LOWER_IS_BETTER = frozenset({"val_log_loss", "val_loss", "log_loss"})


@dataclass(frozen=True)
class TrialResult:
    """One trained configuration: what was tried, with which seed, and how it did.

    ``metrics`` holds final numbers (``val_accuracy``, ``val_log_loss``, ``epochs``, ...);
    ``curves`` the per-epoch lists (``train_loss``, ``val_loss``, ``val_accuracy``,
    ``learning_rate``); ``error`` says why a trial diverged or failed. ``extras`` carries
    strategy-specific records, such as panda's learning-rate decisions.
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

    def __reduce__(self) -> tuple[Any, tuple[dict[str, Any]]]:
        # Mapping proxies cannot be pickled; process-based task runners (Dask) pickle results.
        return (TrialResult.from_dict, (self.to_dict(),))

    @property
    def ok(self) -> bool:
        return self.status == "ok"

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
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrialResult:
        return cls(**dict(data))


def ranked(results: Sequence[TrialResult], metric: str = "val_accuracy") -> list[TrialResult]:
    """The ok trials, best first.

    Ties break deterministically: lower validation log-loss, then earlier round, then the
    trial's position in ``results``.
    """
    ok = [(i, r) for i, r in enumerate(results) if r.ok and math.isfinite(r.score(metric))]
    ok.sort(key=lambda ir: (-ir[1].score(metric), -ir[1].score("val_log_loss"), ir[1].round, ir[0]))
    return [r for _, r in ok]


def best_trial(results: Sequence[TrialResult], metric: str = "val_accuracy") -> TrialResult:
    """The best ok trial by ``metric``; raises ValueError when no trial finished ok."""
    ordered = ranked(results, metric)
    if not ordered:
        raise ValueError(f"no ok trial with a finite {metric!r} among {len(results)} trials")
    return ordered[0]


# Per-row scores whose mean is the metric: bootstrapping their paired differences bootstraps
# the metric's gain exactly, without recomputing the metric on every resample.
RowScore = Callable[[NDArray[Any], NDArray[Any]], NDArray[np.float64]]
ROW_SCORES: dict[str, RowScore] = {"accuracy": lambda y, pred: (y == pred).astype(np.float64)}
# Bound the (resamples x rows) index matrix drawn at once to about 32 MB.
_BOOT_CELLS = 1 << 22


@dataclass(frozen=True)
class PromotionDecision:
    """Whether a challenger replaces the champion, with the evidence in numbers and in words.

    ``gain`` is the challenger's metric minus the champion's on the same rows (positive means
    better); ``interval`` the central ``confidence`` bootstrap interval of that gain and
    ``probability`` the bootstrap probability that the gain is positive. Without a champion the
    gain and interval are NaN and the probability is 1.
    """

    promote: bool
    reason: str
    metric: str
    challenger_score: float
    champion_score: float | None
    gain: float
    interval: tuple[float, float]
    probability: float
    n_rows: int
    min_gain: float
    confidence: float
    n_boot: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "promote": self.promote,
            "reason": self.reason,
            "metric": self.metric,
            "challenger_score": self.challenger_score,
            "champion_score": self.champion_score,
            "gain": self.gain,
            "interval": list(self.interval),
            "probability": self.probability,
            "n_rows": self.n_rows,
            "min_gain": self.min_gain,
            "confidence": self.confidence,
            "n_boot": self.n_boot,
        }


def decide_promotion(
    y_true: ArrayLike,
    challenger_pred: ArrayLike,
    champion_pred: ArrayLike | None,
    *,
    metric: str = "accuracy",
    min_gain: float = 0.0,
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> PromotionDecision:
    """The promotion gate: a paired bootstrap over the same holdout rows.

    Promote when there is no champion, or when the bootstrap probability that the challenger
    is better is at least ``confidence`` and the observed gain is at least ``min_gain``. Both
    models are resampled on the same rows, so row difficulty cancels out of the comparison.
    """
    if metric not in ROW_SCORES:
        raise ValueError(f"metric must be one of {sorted(ROW_SCORES)}, got {metric!r}")
    if not 0 < confidence < 1 or n_boot < 1:
        raise ValueError(f"need 0 < confidence < 1 and n_boot >= 1, got {confidence}, {n_boot}")
    y = np.asarray(y_true)
    challenger = ROW_SCORES[metric](y, _same_length(y, challenger_pred, "challenger_pred"))
    champion_score: float | None = None
    gain, interval, probability = math.nan, (math.nan, math.nan), 1.0
    promote, reason = True, "promoted: no champion yet, the first model becomes the champion"
    if champion_pred is not None:
        champion = ROW_SCORES[metric](y, _same_length(y, champion_pred, "champion_pred"))
        champion_score = float(champion.mean())
        differences = challenger - champion
        gain, interval, probability = _paired_bootstrap(differences, n_boot, seed, confidence)
        promote = probability >= confidence and gain >= min_gain
        reason = _reason(promote, differences, gain, probability, metric, min_gain, confidence)
    return PromotionDecision(
        promote=bool(promote),
        reason=reason,
        metric=metric,
        challenger_score=float(challenger.mean()),
        champion_score=champion_score,
        gain=gain,
        interval=interval,
        probability=probability,
        n_rows=len(y),
        min_gain=min_gain,
        confidence=confidence,
        n_boot=n_boot,
    )


def _same_length(y: NDArray[Any], pred: ArrayLike, name: str) -> NDArray[Any]:
    values = np.asarray(pred)
    if y.ndim != 1 or len(y) == 0:
        raise ValueError(f"y_true must be a non-empty 1-d array, got shape {y.shape}")
    if values.shape != y.shape:
        raise ValueError(f"{name} has shape {values.shape}, y_true has {y.shape}")
    return values


def _paired_bootstrap(
    differences: NDArray[np.float64], n_boot: int, seed: int, confidence: float
) -> tuple[float, tuple[float, float], float]:
    """Observed mean gain, its central ``confidence`` interval, and P(gain > 0)."""
    boot = _bootstrap_means(differences, n_boot, np.random.default_rng(seed))
    tail = (1 - confidence) / 2
    low, high = np.quantile(boot, [tail, 1 - tail])
    # A resample where both score alike is no evidence for the challenger: ties count against
    # it, so identical predictions give probability 0 and are refused.
    probability = float(np.mean(boot > 0))
    return float(differences.mean()), (float(low), float(high)), probability


def _bootstrap_means(
    values: NDArray[np.float64], n_boot: int, rng: np.random.Generator
) -> NDArray[np.float64]:
    """Means of ``n_boot`` resamples with replacement, drawn in memory-bounded chunks."""
    n = len(values)
    chunk = max(1, _BOOT_CELLS // n)
    means = [
        values[rng.integers(0, n, size=(min(chunk, n_boot - start), n))].mean(axis=1)
        for start in range(0, n_boot, chunk)
    ]
    return np.concatenate(means)


def _reason(
    promote: bool,
    differences: NDArray[np.float64],
    gain: float,
    probability: float,
    metric: str,
    min_gain: float,
    confidence: float,
) -> str:
    if not differences.any():
        return f"refused: challenger and champion score every holdout row alike on {metric}"
    evidence = f"{metric} gain {gain:+.4f}, P(challenger better) = {probability:.3f}"
    if promote:
        return f"promoted: {evidence} >= {confidence:.3f}"
    if probability < confidence:
        return f"refused: {evidence} < {confidence:.3f}"
    return f"refused: {evidence}, but the gain is below the required {min_gain:+.4f}"
