"""The density ratio coarse-to-fine uses to choose which zoomed candidates to train."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from models import CoarseToFine, SearchSpace
from models.search.distributions import LogUniform
from models.search.promise import log_parzen, most_promising
from models.search.trials import TrialResult
from tests.model_tests.test_strategies import synthetic

SPACE = SearchSpace({"learning_rate": LogUniform(1e-4, 1e-1)})


def trial(lr: float, accuracy: float, index: int, status: str = "ok") -> TrialResult:
    metrics = {"val_accuracy": accuracy, "val_log_loss": 1 - accuracy} if status == "ok" else {}
    error = None if status == "ok" else "loss diverged"
    return TrialResult({"learning_rate": lr}, 0, status, metrics, error=error, index=index)


def test_candidates_near_the_best_trials_come_first_and_near_the_worst_last() -> None:
    results = [
        trial(1e-2, 0.9, 0),
        trial(1.2e-2, 0.88, 1),
        trial(1e-4, 0.5, 2),
        trial(1.5e-4, 0.52, 3),
    ]
    candidates: list[dict[str, Any]] = [{"learning_rate": lr} for lr in (1e-3, 1.1e-4, 1.1e-2)]
    chosen = most_promising(SPACE, candidates, results, 3, top_k=2)
    assert [c["learning_rate"] for c in chosen] == [1.1e-2, 1e-3, 1.1e-4]


def test_a_diverged_trial_steers_candidates_away_from_its_region() -> None:
    # Both candidates sit one decade from the only good trial, mid-space, so without the
    # divergence they tie (and the first would be kept); one is next to the divergence.
    space = SearchSpace({"learning_rate": LogUniform(1e-5, 1e1)})
    results = [trial(1e-2, 0.9, 0), trial(1.0, math.nan, 1, status="diverged")]
    candidates = [{"learning_rate": 1e-1}, {"learning_rate": 1e-3}]
    assert most_promising(space, candidates, results, 1, top_k=1) == [{"learning_rate": 1e-3}]


def test_the_uniform_component_keeps_every_density_positive_and_finite() -> None:
    points = np.array([[0.0], [0.5], [1.0]])
    far_away = log_parzen(points, np.array([[0.0]]), bandwidth=0.01)
    assert np.all(np.isfinite(far_away)) and far_away[0] > far_away[1]
    assert np.allclose(log_parzen(points, np.empty((0, 1)), 0.1), 0.0)
    with pytest.raises(ValueError, match="bandwidth"):
        log_parzen(points, points, bandwidth=0.0)


def test_one_candidate_per_trial_is_plain_random_sampling_of_the_zoom() -> None:
    space = SearchSpace.default()
    plain = CoarseToFine(space, rounds=2, trials_per_round=6, candidates_per_trial=1)
    first = plain.propose([])
    results = [synthetic(p) for p in first]
    expected = plain.space_for(results).sample(6, np.random.default_rng([0, 2]))
    assert [dict(p.params) for p in plain.propose(results)] == expected


@pytest.mark.parametrize(
    "settings", [{"candidates_per_trial": 0}, {"bandwidth": 0.0}, {"bandwidth": -1.0}]
)
def test_bad_settings_are_refused(settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        CoarseToFine(SearchSpace.default(), **settings)
