"""The promotion gate: a pure decision from the challenger's and champion's paired predictions."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

# Per-row scores whose mean is the metric: bootstrapping their paired differences bootstraps
# the metric's gain exactly, without recomputing the metric on every resample.
RowScore = Callable[[NDArray[Any], NDArray[Any]], NDArray[np.float64]]
ROW_SCORES: dict[str, RowScore] = {"accuracy": lambda y, pred: (y == pred).astype(np.float64)}
# Bound the (resamples x rows) index matrix drawn at once to about 32 MB.
_BOOT_CELLS = 1 << 22


RULES = ("non_inferiority", "superiority")


@dataclass(frozen=True)
class PromotionDecision:
    """Whether a challenger replaces the champion, with the evidence in numbers and in words.

    ``gain`` is the challenger's metric minus the champion's on the same rows (positive means
    better); ``interval`` the central ``confidence`` bootstrap interval of that gain,
    ``probability`` the bootstrap probability that the gain is positive and ``p_worse`` the
    probability that the challenger is worse by more than ``margin``. Without a champion the
    gain and interval are NaN, the probability is 1 and ``p_worse`` 0.
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
    rule: str = "superiority"
    margin: float = 0.0
    p_worse: float = 0.0

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
            "rule": self.rule,
            "margin": self.margin,
            "p_worse": self.p_worse,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PromotionDecision:
        values = dict(data)
        values["interval"] = tuple(values["interval"])
        return cls(**values)


def decide_promotion(
    y_true: ArrayLike,
    challenger_pred: ArrayLike,
    champion_pred: ArrayLike | None,
    *,
    metric: str = "accuracy",
    rule: str = "superiority",
    min_gain: float = 0.0,
    margin: float = 0.0,
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> PromotionDecision:
    """The promotion gate: a paired bootstrap over the same holdout rows.

    Without a champion the challenger is promoted. Otherwise, by ``rule``:

    - ``superiority``: promote when the bootstrap probability that the challenger is better is
      at least ``confidence`` and the observed gain is at least ``min_gain``;
    - ``non_inferiority``: promote unless the challenger is credibly worse, that is unless the
      probability that it loses more than ``margin`` is at least ``confidence``. Under drift
      the champion ages while it waits for proof: a challenger trained on the newest data that
      is not credibly worse is the better bet, all the more as it is refit on the holdout too.

    Both models are resampled on the same rows, so row difficulty cancels out of the comparison.
    """
    _check_gate(metric, rule, confidence, n_boot, margin)
    y = np.asarray(y_true)
    challenger = ROW_SCORES[metric](y, _same_length(y, challenger_pred, "challenger_pred"))
    # Every decision carries the settings it was taken under, so an audit record is complete.
    settings: dict[str, Any] = dict(
        metric=metric,
        n_rows=len(y),
        min_gain=min_gain,
        confidence=confidence,
        n_boot=n_boot,
        rule=rule,
        margin=margin,
    )
    if champion_pred is None:
        return _first_champion(challenger, settings)
    champion = ROW_SCORES[metric](y, _same_length(y, champion_pred, "champion_pred"))
    return _paired_decision(challenger, champion, settings, np.random.default_rng(seed))


def _check_gate(metric: str, rule: str, confidence: float, n_boot: int, margin: float) -> None:
    if metric not in ROW_SCORES:
        raise ValueError(f"metric must be one of {sorted(ROW_SCORES)}, got {metric!r}")
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    if not 0 < confidence < 1 or n_boot < 1 or margin < 0:
        raise ValueError(
            f"need 0 < confidence < 1, n_boot >= 1 and margin >= 0, got {confidence}, "
            f"{n_boot}, {margin}"
        )


def _first_champion(
    challenger: NDArray[np.float64], settings: Mapping[str, Any]
) -> PromotionDecision:
    return PromotionDecision(
        promote=True,
        reason="promoted: no champion yet, the first model becomes the champion",
        challenger_score=float(challenger.mean()),
        champion_score=None,
        gain=math.nan,
        interval=(math.nan, math.nan),
        probability=1.0,
        **settings,
    )


def _paired_decision(
    challenger: NDArray[np.float64],
    champion: NDArray[np.float64],
    settings: Mapping[str, Any],
    rng: np.random.Generator,
) -> PromotionDecision:
    """Both models' row scores resampled together: the gain's bootstrap, then the rule."""
    confidence, margin = settings["confidence"], settings["margin"]
    differences = challenger - champion
    boot = _bootstrap_means(differences, settings["n_boot"], rng)
    tail = (1 - confidence) / 2
    low, high = np.quantile(boot, [tail, 1 - tail])
    # A resample where both score alike is no evidence for the challenger: ties count against
    # it, so identical predictions give probability 0.
    probability = float(np.mean(boot > 0))
    p_worse = float(np.mean(boot < -margin))
    gain = float(differences.mean())
    if settings["rule"] == "superiority":
        promote = probability >= confidence and gain >= settings["min_gain"]
    else:
        promote = p_worse < confidence
    evidence = _Evidence(differences, gain, probability, p_worse, settings["metric"], settings)
    return PromotionDecision(
        promote=bool(promote),
        reason=_reason(promote, evidence),
        challenger_score=float(challenger.mean()),
        champion_score=float(champion.mean()),
        gain=gain,
        interval=(float(low), float(high)),
        probability=probability,
        p_worse=p_worse,
        **settings,
    )


def _same_length(y: NDArray[Any], pred: ArrayLike, name: str) -> NDArray[Any]:
    values = np.asarray(pred)
    if y.ndim != 1 or len(y) == 0:
        raise ValueError(f"y_true must be a non-empty 1-d array, got shape {y.shape}")
    if values.shape != y.shape:
        raise ValueError(f"{name} has shape {values.shape}, y_true has {y.shape}")
    return values


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


@dataclass(frozen=True)
class _Evidence:
    differences: NDArray[np.float64]
    gain: float
    probability: float
    p_worse: float
    metric: str
    settings: Mapping[str, Any]


def _reason(promote: bool, evidence: _Evidence) -> str:
    settings, verb = evidence.settings, "promoted" if promote else "refused"
    confidence = settings["confidence"]
    if settings["rule"] == "non_inferiority":
        comparison = "<" if promote else ">="
        return (
            f"{verb}: {evidence.metric} gain {evidence.gain:+.4f}, P(challenger worse by more "
            f"than {settings['margin']:.4f}) = {evidence.p_worse:.3f} {comparison} "
            f"{confidence:.3f} (non-inferiority)"
        )
    if not evidence.differences.any():
        return (
            f"refused: challenger and champion score every holdout row alike on {evidence.metric}"
        )
    shown = f"{evidence.metric} gain {evidence.gain:+.4f}, P(challenger better) = "
    shown += f"{evidence.probability:.3f}"
    if promote:
        return f"promoted: {shown} >= {confidence:.3f}"
    if evidence.probability < confidence:
        return f"refused: {shown} < {confidence:.3f}"
    return f"refused: {shown}, but the gain is below the required {settings['min_gain']:+.4f}"
