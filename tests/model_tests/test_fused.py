"""Fused training gives each model what its own Trainer gives it: weights, BN averages, curves.

Most comparisons run in float64 (the trainers are converted after ``start_training``, both paths
alike): the stacked path sums padded rows and steps its own optimizer, so float32 results agree
only to rounding (about 1e-6 here), which chaotic runs can amplify. One end-to-end test compares
``train_fused`` with ``BNSoftmaxClassifier.fit`` in the estimator's own float32.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest
import torch

from models.estimator import BNSoftmaxClassifier
from models.fused import group_by_structure, train_fused, train_stacked
from models.training import Trainer
from models.trial import make_train_fn, train_round_fused

TOL = 1e-5


def _data(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int) + (x[:, 2] > 1)
    return x, y


X, Y = _data(0, 300)
XV, YV = _data(1, 100)


def _trainers(settings: Sequence[Mapping[str, Any]]) -> list[Trainer]:
    trainers = []
    for s in settings:
        t = BNSoftmaxClassifier(**s).start_training(X, Y, eval_set=(XV, YV))
        t.model.double()
        t.x_train = t.x_train.double()
        assert t.x_val is not None
        t.x_val = t.x_val.double()
        trainers.append(t)
    return trainers


def _separate(settings: Sequence[Mapping[str, Any]]) -> list[Trainer]:
    trainers = _trainers(settings)
    for t in trainers:
        t.train()
        t.use_best_weights()
    return trainers


def _fused(settings: Sequence[Mapping[str, Any]]) -> list[Trainer]:
    trainers = _trainers(settings)
    train_stacked(trainers)
    for t in trainers:
        t.use_best_weights()
    return trainers


def _assert_same(a: Trainer, b: Trainer, tol: float = TOL) -> None:
    assert (a.status, a.stop_reason, a.epoch) == (b.status, b.stop_reason, b.epoch)
    for name, curve in a.history.to_dict().items():
        np.testing.assert_allclose(curve, b.history.to_dict()[name], rtol=tol, atol=tol)
    theirs = b.model.state_dict()
    for name, tensor in a.model.state_dict().items():  # weights and BN running mean / var
        assert torch.allclose(tensor.double(), theirs[name].double(), rtol=tol, atol=tol), name


def _settings(optimizer: str, rows: Sequence[tuple[int, float, float, int]], **common: Any):
    return [
        {
            "n_layers": 2,
            "hidden_units": width,
            "learning_rate": alpha,
            "momentum": beta,
            "optimizer": optimizer,
            "batch_size": 32,
            "max_epochs": 12,
            "patience": 4,
            "random_state": seed,
            "n_threads": 1,  # the cores are shared: more threads only oversubscribe them
            **common,
        }
        for width, alpha, beta, seed in rows
    ]


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "rmsprop", "adam"])
def test_padded_models_with_their_own_rates_train_as_they_would_alone(optimizer: str) -> None:
    alpha = 0.1 if optimizer in ("sgd", "momentum") else 1e-2
    rows = [(12, alpha, 0.8, 1), (20, alpha / 3, 0.95, 2), (16, alpha * 2, 0.9, 3)]
    settings = _settings(optimizer, rows, weight_decay=1e-3, lr_decay=0.1, beta2=0.99)
    for a, b in zip(_separate(settings), _fused(settings), strict=True):
        _assert_same(a, b)


def test_sigmoid_padding_stays_inert() -> None:
    # act(0) = 0.5 for a padded sigmoid unit: only the masked gradient keeps it out.
    settings = _settings("adam", [(8, 1e-2, 0.9, 1), (24, 1e-2, 0.9, 2)], activation="sigmoid")
    for a, b in zip(_separate(settings), _fused(settings), strict=True):
        _assert_same(a, b)


@pytest.mark.parametrize(
    ("optimizer", "alpha", "activation", "why"),
    [
        ("momentum", 10.0, "sigmoid", "rose above"),  # the stretch check at an epoch's end
        ("sgd", 1e300, "relu", "the loss became nan"),  # mid-epoch: it leaves the stack there
    ],
)
def test_a_diverging_model_leaves_its_neighbours_unchanged(
    optimizer: str, alpha: float, activation: str, why: str
) -> None:
    healthy = [(12, 0.1, 0.9, 1), (20, 0.05, 0.8, 2)]
    settings = _settings(optimizer, [*healthy, (16, alpha, 0.9, 3)], activation=activation)
    separate, fused = _separate(settings), _fused(settings)
    assert separate[2].status == fused[2].status == "diverged"
    assert separate[2].epoch == fused[2].epoch
    assert why in fused[2].divergence
    assert separate[2].divergence == fused[2].divergence
    for a, b in zip(separate[:2], fused[:2], strict=True):
        assert a.status == "ok"
        _assert_same(a, b)
    without = _fused(settings[:2])  # the same two fused without the diverging one: identical
    for a, b in zip(without, fused[:2], strict=True):
        _assert_same(a, b, tol=0.0)


def test_early_stopping_at_different_epochs() -> None:
    rows = [(16, 3e-2, 0.9, 1), (16, 1e-3, 0.9, 2), (24, 1e-1, 0.9, 3)]
    settings = _settings("adam", rows, max_epochs=30)
    settings[0]["patience"], settings[2]["patience"] = 2, 3
    separate, fused = _separate(settings), _fused(settings)
    epochs = {t.epoch for t in fused}
    assert len(epochs) > 1, epochs
    assert any(t.stop_reason == "early_stopped" for t in fused)
    for a, b in zip(separate, fused, strict=True):
        _assert_same(a, b)


def test_train_fused_fits_classifiers_as_fit_does_in_float32() -> None:
    settings = _settings("adam", [(16, 1e-2, 0.9, 1), (40, 3e-3, 0.85, 2)])
    settings.append({**settings[0], "n_layers": 1, "random_state": 5})  # a group of its own
    fused = train_fused(settings, X, Y, XV, YV)
    for s, f in zip(settings, fused, strict=True):
        alone = BNSoftmaxClassifier(**s).fit(X, Y, eval_set=(XV, YV))
        assert (alone.status_, alone.n_epochs_) == (f.status_, f.n_epochs_)
        np.testing.assert_allclose(alone.history_.val_loss, f.history_.val_loss, atol=TOL)
        np.testing.assert_allclose(alone.predict_proba(XV), f.predict_proba(XV), atol=TOL)
        assert math.isfinite(f.train_seconds_)


def test_groups_share_depth_batch_size_and_optimizer() -> None:
    base = {"n_layers": 2, "batch_size": 32, "hidden_units": 16}
    settings = [base, {**base, "hidden_units": 64}, {**base, "batch_size": 64}, base]
    settings.append({**base, "optimizer": "sgd"})
    assert group_by_structure(settings) == [[0, 1, 3], [2], [4]]
    wide = [base, {**base, "hidden_units": 200}, {**base, "hidden_units": 192}]  # 2 x 200 > 384
    assert group_by_structure(wide) == [[0, 2], [1]]
    assert group_by_structure(wide, max_units=None) == [[0, 1, 2]]


def test_a_fused_round_records_the_trials_make_train_fn_records() -> None:
    fixed = {"max_epochs": 6, "patience": 3, "batch_size": 32, "n_layers": 2}
    trials = [
        ({"learning_rate": 1e-2, "hidden_units": 12}, 7),
        ({"learning_rate": 3e-3, "hidden_units": 20}, 8),
    ]
    fused = train_round_fused(trials, X, Y, XV, YV, fixed_params=fixed, n_threads=1)
    train_fn = make_train_fn(X, Y, XV, YV, fixed_params=fixed, n_threads=1)
    for (params, seed), result in zip(trials, fused, strict=True):
        alone = train_fn(params, seed)
        assert (result.status, result.settings, result.params) == (
            alone.status,
            alone.settings,
            alone.params,
        )
        assert result.metrics["val_accuracy"] == pytest.approx(alone.metrics["val_accuracy"])
        for name, curve in alone.curves.items():
            np.testing.assert_allclose(result.curves[name], curve, atol=TOL)
