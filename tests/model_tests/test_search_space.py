"""SearchSpace: seeded sampling, serialisation, and the coarse-to-fine zoom."""

from __future__ import annotations

import json
import math
import pickle
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from models import Choice, IntUniform, LogOneMinus, LogUniform, PowerOfTwo, SearchSpace, Uniform
from models.search.trials import TrialResult


def trial(params: Mapping[str, Any], accuracy: float, status: str = "ok") -> TrialResult:
    if status != "ok":
        return TrialResult(params, 0, status, {"val_accuracy": accuracy}, error="it broke")
    return TrialResult(params, 0, "ok", {"val_accuracy": accuracy, "val_log_loss": 1 - accuracy})


def near_optimum(params: Mapping[str, Any]) -> float:
    """A synthetic validation accuracy, best at learning_rate = 3e-3 and 3 layers."""
    lr_miss = abs(math.log10(params["learning_rate"] / 3e-3))
    return 0.95 - 0.1 * lr_miss - 0.01 * abs(params["n_layers"] - 3)


def default_with_choice() -> SearchSpace:
    return SearchSpace({**SearchSpace.default(), "optimizer": Choice(("sgd", "momentum", "adam"))})


def test_default_space_holds_the_five_in_order_of_importance() -> None:
    space = SearchSpace.default()
    assert list(space) == ["learning_rate", "momentum", "n_layers", "hidden_units", "batch_size"]
    assert space["learning_rate"] == LogUniform(1e-4, 1e-1)
    assert space["momentum"] == LogOneMinus(0.8, 0.999)
    assert space["n_layers"] == IntUniform(1, 4)
    assert space["hidden_units"] == IntUniform(16, 256)
    assert space["batch_size"] == PowerOfTwo(16, 512)


def test_sample_gives_in_bounds_plain_configurations_reproducibly() -> None:
    space = default_with_choice()
    configs = space.sample(20, np.random.default_rng(3))
    assert len(configs) == 20
    assert all(list(c) == list(space) and space.contains(c) for c in configs)
    json.dumps(configs)  # plain Python values: they log to MLflow and JSON as they are
    assert space.sample(20, np.random.default_rng(3)) == configs
    assert space.sample(20, np.random.default_rng(4)) != configs
    assert space.sample(0, np.random.default_rng(3)) == []


def test_dict_and_yaml_round_trip() -> None:
    space = SearchSpace({**default_with_choice(), "dropout": Uniform(0.0, 0.5)})
    assert SearchSpace.from_dict(json.loads(json.dumps(space.to_dict()))) == space
    text = space.to_yaml()
    assert "learning_rate:" in text and "log_uniform" in text
    assert SearchSpace.from_yaml(text) == space
    assert list(SearchSpace.from_yaml(text)) == list(space)


def test_hand_written_yaml_is_read_and_errors_name_the_parameter() -> None:
    text = "learning_rate: {type: log_uniform, low: 1e-4, high: 1e-1}\n"
    assert SearchSpace.from_yaml(text)["learning_rate"] == LogUniform(1e-4, 1e-1)
    with pytest.raises(ValueError, match="momentum: LogOneMinus needs"):
        SearchSpace.from_yaml("momentum: {type: log_one_minus, low: 0.9, high: 1.2}\n")
    with pytest.raises(ValueError, match="at least one parameter"):
        SearchSpace({})


def test_the_readme_space_syntax_reads_and_round_trips_to_the_kinds() -> None:
    text = """
learning_rate: {type: LogUniform, low: 1e-4, high: 1e-1}
momentum: {type: LogOneMinus, low: 0.8, high: 0.999}
n_layers: {type: IntUniform, low: 1, high: 4}
batch_size: {type: PowerOfTwo, low: 16, high: 512}
validation_fraction: {type: Uniform, low: 0.1, high: 0.3}
activation: {type: Choice, values: [relu, tanh]}
"""
    space = SearchSpace.from_yaml(text)
    assert space["learning_rate"] == LogUniform(1e-4, 1e-1)
    assert space["activation"] == Choice(("relu", "tanh"))
    kinds = [d["type"] for d in space.to_dict().values()]
    assert kinds == [
        "log_uniform",
        "log_one_minus",
        "int_uniform",
        "power_of_two",
        "uniform",
        "choice",
    ]
    assert SearchSpace.from_yaml(space.to_yaml()) == space


def test_zoom_contains_the_best_trial_and_stays_inside_its_parent() -> None:
    space = default_with_choice()
    for seed in range(50):
        rng = np.random.default_rng(seed)
        configs = space.sample(8, rng)
        results = [trial(c, float(s)) for c, s in zip(configs, rng.random(8), strict=True)]
        child = space.zoom(results, top_k=3)
        best = max(results, key=lambda r: r.metrics["val_accuracy"])
        assert child.contains(best.params), seed
        assert all(space.contains(c) for c in child.sample(100, rng)), seed
        for name, dist in child.items():
            if hasattr(dist, "low"):
                assert space[name].low <= dist.low and dist.high <= space[name].high


def test_zoom_narrows_round_after_round() -> None:
    space = SearchSpace.default()
    results: list[TrialResult] = []
    widths = []
    rng = np.random.default_rng(0)
    for _ in range(4):
        results += [trial(c, near_optimum(c)) for c in space.sample(8, rng)]
        space = space.zoom(results, top_k=3)
        widths.append(math.log10(space["learning_rate"].high / space["learning_rate"].low))
    assert all(later <= earlier for earlier, later in zip(widths, widths[1:], strict=False))
    assert widths[-1] < 0.5 * 3.0  # from three decades to less than half of them
    assert space["learning_rate"].low < 3e-3 < space["learning_rate"].high


def test_zoom_ignores_diverged_and_failed_trials() -> None:
    space = SearchSpace({"learning_rate": LogUniform(1e-4, 1e-1)})
    results = [
        trial({"learning_rate": 1e-3}, 0.80),
        trial({"learning_rate": 1.5e-3}, 0.82),
        trial({"learning_rate": 9e-2}, 0.99, status="diverged"),
        trial({"learning_rate": 5e-2}, 0.99, status="failed"),
    ]
    child = space.zoom(results, top_k=3)["learning_rate"]
    assert child.contains(1e-3) and child.contains(1.5e-3)
    assert not child.contains(5e-2)
    with pytest.raises(ValueError, match="no ok trial"):
        space.zoom(results[2:], top_k=3)


def test_zoom_keeps_used_powers_and_choices_with_their_neighbours() -> None:
    space = default_with_choice()
    base = space.sample(1, np.random.default_rng(0))[0]
    results = [
        trial({**base, "batch_size": 64, "optimizer": "adam"}, 0.9),
        trial({**base, "batch_size": 128, "optimizer": "adam"}, 0.8),
        trial({**base, "batch_size": 512, "optimizer": "sgd"}, 0.1),
    ]
    child = space.zoom(results, top_k=2)
    assert child["batch_size"] == PowerOfTwo(32, 256)
    assert child["optimizer"] == Choice(("momentum", "adam"))


def test_a_top_trial_outside_the_space_pulls_the_child_to_the_edge() -> None:
    space = SearchSpace({"learning_rate": LogUniform(1e-3, 1e-2)})
    results = [trial({"learning_rate": 5e-2}, 0.9), trial({"learning_rate": 5e-3}, 0.8)]
    child = space.zoom(results, top_k=2, margin=0.0)["learning_rate"]
    assert child.high == 1e-2 and child.low == pytest.approx(5e-3)


def test_a_space_pickles_for_process_based_task_runners() -> None:
    space = default_with_choice()
    assert pickle.loads(pickle.dumps(space)) == space
