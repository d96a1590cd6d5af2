"""fit_to_space: warm-start configurations moved into the current space, every change noted."""

from __future__ import annotations

import numpy as np

from models import Choice, CoarseToFine, IntUniform, LogUniform, PowerOfTwo, SearchSpace
from models.search.warm import fit_to_space

SPACE = SearchSpace(
    {
        "learning_rate": LogUniform(10, 1000),
        "n_layers": IntUniform(1, 3),
        "batch_size": PowerOfTwo(16, 64),
        "activation": Choice(("relu", "tanh")),
    }
)


def test_configurations_inside_the_space_come_back_unchanged() -> None:
    configs = SPACE.sample(5, np.random.default_rng(0))
    fitted, notes = fit_to_space(configs, SPACE)
    assert fitted == configs and notes == []


def test_the_issues_warm_start_is_clipped_into_the_space() -> None:
    # Learning rates of 0.02-0.07 once ran in a [10, 1000] space: now they start at its edge.
    champion = {"learning_rate": 0.02, "n_layers": 2, "batch_size": 32, "activation": "relu"}
    fitted, notes = fit_to_space([champion], SPACE)
    assert fitted == [{**champion, "learning_rate": 10.0}]
    assert notes == [
        "warm-start configuration 1: learning_rate 0.02 is outside "
        "LogUniform(low=10.0, high=1000.0), moved to 10.0"
    ]


def test_each_distribution_moves_or_drops_its_own_way() -> None:
    old = {"learning_rate": 5e4, "n_layers": 7, "batch_size": 512, "activation": "elu"}
    fitted, notes = fit_to_space([old], SPACE)
    assert fitted == [{"learning_rate": 1000.0, "n_layers": 3, "batch_size": 64}]
    assert [note.split(": ", 1)[1].split(" ")[0] for note in notes] == [
        "learning_rate",
        "n_layers",
        "batch_size",
        "activation",
    ]
    assert notes[-1].endswith("dropped (sampled anew)")
    assert all(SPACE[name].contains(value) for name, value in fitted[0].items())


def test_parameters_the_space_no_longer_searches_are_dropped() -> None:
    config = {"learning_rate": 20.0, "momentum": 0.9}
    fitted, notes = fit_to_space([config], SPACE)
    assert fitted == [{"learning_rate": 20.0}]
    assert notes == ["warm-start configuration 1: momentum is not searched now, dropped"]


def test_configurations_that_clip_to_the_same_trial_are_left_out_once() -> None:
    base = {"n_layers": 2, "batch_size": 32, "activation": "tanh"}
    configs = [{**base, "learning_rate": 0.02}, {**base, "learning_rate": 0.07}]
    fitted, notes = fit_to_space(configs, SPACE)
    assert fitted == [{**base, "learning_rate": 10.0}]
    assert notes[-1] == "warm-start configuration 2: the same as an earlier one, left out"
    # With a value dropped, the strategy samples it anew per slot: not the same trial.
    partial = [{"learning_rate": 0.02, "activation": "elu"}] * 2
    assert len(fit_to_space(partial, SPACE)[0]) == 2


def test_a_fitted_warm_start_trains_inside_the_space() -> None:
    old = [{"learning_rate": 0.05, "n_layers": 9, "batch_size": 8, "activation": "sigmoid"}]
    fitted, _ = fit_to_space(old, SPACE)
    strategy = CoarseToFine(SPACE, rounds=1, trials_per_round=2, initial=fitted)
    proposals = strategy.propose([])
    assert all(SPACE.contains(p.params) for p in proposals)
    assert proposals[0].params["learning_rate"] == 10.0
