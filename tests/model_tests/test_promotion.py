"""The promotion gate: a paired bootstrap decides whether a challenger beats the champion."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models import PromotionDecision, decide_promotion


def predictions_with_accuracy(
    y: np.ndarray, accuracy: float, rng: np.random.Generator
) -> np.ndarray:
    """Copy of ``y`` with a ``1 - accuracy`` share of rows flipped to another class."""
    pred = y.copy()
    wrong = rng.choice(len(y), size=round(len(y) * (1 - accuracy)), replace=False)
    pred[wrong] = (pred[wrong] + 1) % 3
    return pred


@pytest.fixture
def labels() -> np.ndarray:
    return np.random.default_rng(7).integers(0, 3, size=600)


def test_no_champion_promotes(labels: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    decision = decide_promotion(labels, predictions_with_accuracy(labels, 0.6, rng), None)
    assert isinstance(decision, PromotionDecision)
    assert decision.promote
    assert "no champion" in decision.reason
    assert decision.champion_score is None
    assert math.isclose(decision.challenger_score, 0.6, abs_tol=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_clearly_better_challenger_is_promoted(labels: np.ndarray, seed: int) -> None:
    rng = np.random.default_rng(seed)
    champion = predictions_with_accuracy(labels, 0.70, rng)
    challenger = predictions_with_accuracy(labels, 0.85, rng)
    decision = decide_promotion(labels, challenger, champion, seed=seed)
    observed = np.mean(challenger == labels) - np.mean(champion == labels)
    assert decision.promote, decision.reason
    assert decision.reason.startswith("promoted")
    assert math.isclose(decision.gain, observed)
    low, high = decision.interval
    assert 0 < low < observed < high
    assert decision.probability >= 0.95


def test_identical_predictions_are_refused(labels: np.ndarray) -> None:
    pred = predictions_with_accuracy(labels, 0.8, np.random.default_rng(1))
    decision = decide_promotion(labels, pred.copy(), pred)
    assert not decision.promote
    assert decision.probability == 0.0
    assert decision.gain == 0.0
    assert "alike" in decision.reason


def test_worse_challenger_is_refused(labels: np.ndarray) -> None:
    rng = np.random.default_rng(2)
    champion = predictions_with_accuracy(labels, 0.85, rng)
    challenger = predictions_with_accuracy(labels, 0.75, rng)
    decision = decide_promotion(labels, challenger, champion)
    assert not decision.promote
    assert decision.gain < 0
    assert decision.probability < 0.05
    assert decision.reason.startswith("refused")


def test_a_gain_on_two_rows_is_not_enough_evidence(labels: np.ndarray) -> None:
    champion = predictions_with_accuracy(labels, 0.8, np.random.default_rng(3))
    challenger = champion.copy()
    fixed = np.flatnonzero(champion != labels)[:2]
    challenger[fixed] = labels[fixed]
    decision = decide_promotion(labels, challenger, champion)
    # P(a resample holds at least one of the two rows) = 1 - (1 - 2/600)^600, about 0.865.
    assert decision.gain > 0
    assert 0.8 < decision.probability < 0.93
    assert not decision.promote


def test_min_gain_blocks_a_confident_but_small_gain(labels: np.ndarray) -> None:
    rng = np.random.default_rng(4)
    champion = predictions_with_accuracy(labels, 0.70, rng)
    challenger = predictions_with_accuracy(labels, 0.85, rng)
    decision = decide_promotion(labels, challenger, champion, min_gain=0.5)
    assert decision.probability >= 0.95
    assert not decision.promote
    assert "below the required" in decision.reason


def test_interval_matches_the_normal_approximation() -> None:
    rng = np.random.default_rng(5)
    y = rng.integers(0, 3, size=2000)
    champion = predictions_with_accuracy(y, 0.75, rng)
    challenger = predictions_with_accuracy(y, 0.78, rng)
    decision = decide_promotion(y, challenger, champion, n_boot=4000, seed=11)
    d = (challenger == y).astype(float) - (champion == y).astype(float)
    se = d.std() / math.sqrt(len(d))
    width = decision.interval[1] - decision.interval[0]
    assert math.isclose(width, 2 * 1.96 * se, rel_tol=0.1)


def test_same_seed_same_decision_and_string_labels() -> None:
    y = np.array(["rain", "sun", "fog"] * 100)
    rng = np.random.default_rng(6)
    champion = np.where(rng.random(300) < 0.7, y, "snow")
    challenger = np.where(rng.random(300) < 0.8, y, "snow")
    first = decide_promotion(y, challenger, champion, seed=3)
    again = decide_promotion(y, challenger, champion, seed=3)
    other = decide_promotion(y, challenger, champion, seed=4)
    assert first == again
    assert first.interval != other.interval
    assert first.to_dict()["interval"] == list(first.interval)


def test_bad_inputs_raise() -> None:
    y = np.array([0, 1, 1, 0])
    with pytest.raises(ValueError, match="shape"):
        decide_promotion(y, y[:3], y)
    with pytest.raises(ValueError, match="metric"):
        decide_promotion(y, y, y, metric="f1")
    with pytest.raises(ValueError, match="non-empty"):
        decide_promotion(np.array([]), np.array([]), None)
    with pytest.raises(ValueError, match="confidence"):
        decide_promotion(y, y, y, confidence=1.0)


# The non-inferiority rule: promote unless the challenger is credibly worse than the champion.


def test_non_inferiority_promotes_a_tie_and_a_small_unproven_gain(labels: np.ndarray) -> None:
    champion = predictions_with_accuracy(labels, 0.8, np.random.default_rng(3))
    tie = decide_promotion(labels, champion.copy(), champion, rule="non_inferiority")
    assert tie.promote, tie.reason
    assert tie.p_worse == 0.0
    assert "non-inferiority" in tie.reason
    challenger = champion.copy()
    fixed = np.flatnonzero(champion != labels)[:2]
    challenger[fixed] = labels[fixed]
    superiority = decide_promotion(labels, challenger, champion, rule="superiority")
    non_inferior = decide_promotion(labels, challenger, champion, rule="non_inferiority")
    assert not superiority.promote
    assert non_inferior.promote


def test_non_inferiority_refuses_a_credibly_worse_challenger(labels: np.ndarray) -> None:
    rng = np.random.default_rng(2)
    champion = predictions_with_accuracy(labels, 0.85, rng)
    challenger = predictions_with_accuracy(labels, 0.75, rng)
    decision = decide_promotion(labels, challenger, champion, rule="non_inferiority")
    assert not decision.promote
    assert decision.p_worse >= 0.95
    assert decision.reason.startswith("refused")


def test_the_margin_tolerates_a_loss_up_to_it(labels: np.ndarray) -> None:
    """Three points worse: refused with no margin, promoted when five points are tolerated."""
    champion = predictions_with_accuracy(labels, 0.85, np.random.default_rng(8))
    challenger = champion.copy()
    broken = np.flatnonzero(champion == labels)[:18]  # 18 of 600 rows: 3 points
    challenger[broken] = (labels[broken] + 1) % 3
    strict = decide_promotion(labels, challenger, champion, rule="non_inferiority")
    tolerant = decide_promotion(labels, challenger, champion, rule="non_inferiority", margin=0.05)
    assert math.isclose(strict.gain, -0.03)
    assert not strict.promote
    assert tolerant.promote
    assert tolerant.p_worse < 0.05


def test_a_decision_round_trips_through_its_dict(labels: np.ndarray) -> None:
    rng = np.random.default_rng(9)
    champion = predictions_with_accuracy(labels, 0.8, rng)
    challenger = predictions_with_accuracy(labels, 0.82, rng)
    for rule in ("superiority", "non_inferiority"):
        decision = decide_promotion(labels, challenger, champion, rule=rule, margin=0.01)
        assert PromotionDecision.from_dict(decision.to_dict()) == decision


def test_an_unknown_rule_or_a_negative_margin_raises(labels: np.ndarray) -> None:
    with pytest.raises(ValueError, match="rule"):
        decide_promotion(labels, labels, labels, rule="vibes")
    with pytest.raises(ValueError, match="margin"):
        decide_promotion(labels, labels, labels, rule="non_inferiority", margin=-0.1)
