"""The refit on train + validation: as many epochs as the trial needed, at the rates it used."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from models import BNSoftmaxClassifier
from models.panda import Babysitter
from models.refit import refit, refit_settings, replayed_rates
from models.search.trials import TrialResult
from models.trial import trial_from_classifier
from tests.model_tests.test_strategies import babysit, tiny_data

PARAMS = {"n_layers": 1, "hidden_units": 16, "batch_size": 32, "learning_rate": 0.05}


def _trial(params: dict[str, object], seed: int = 3) -> TrialResult:
    X_train, y_train, X_val, y_val = tiny_data()
    model = BNSoftmaxClassifier(**params, random_state=seed, n_threads=1)
    model.fit(X_train, y_train, eval_set=(X_val, y_val))
    return trial_from_classifier(model, X_val, y_val, params=params, seed=seed, seconds=0.0)


def _weights(model: BNSoftmaxClassifier) -> list[torch.Tensor]:
    return [tensor.detach().clone() for tensor in model.model_.state_dict().values()]


def test_refit_trains_to_the_trial_s_best_validation_epoch() -> None:
    trial = _trial({**PARAMS, "max_epochs": 12, "patience": None})
    best_epoch = int(np.nanargmin(trial.curves["val_loss"])) + 1
    settings = refit_settings(trial, {"n_threads": 1})
    assert settings["max_epochs"] == best_epoch
    assert settings["validation_fraction"] == 0.0 and settings["random_state"] == trial.seed


def test_replaying_a_decayed_rate_matches_training_with_the_decay() -> None:
    params = {**PARAMS, "lr_decay": 0.5, "max_epochs": 6, "patience": None}
    trial = _trial(params)
    X, y = np.vstack(tiny_data()[::2]), np.concatenate(tiny_data()[1::2])
    replayed = refit(trial, {"n_threads": 1}, X, y)
    epochs = refit_settings(trial, {})["max_epochs"]
    plain = BNSoftmaxClassifier(
        **{**params, "max_epochs": epochs, "validation_fraction": 0.0, "patience": None},
        random_state=trial.seed,
        n_threads=1,
    ).fit(X, y)
    assert replayed.history_.learning_rate == pytest.approx(plain.history_.learning_rate)
    for ours, theirs in zip(_weights(replayed), _weights(plain), strict=True):
        torch.testing.assert_close(ours, theirs)


def test_a_babysat_trial_is_refit_at_the_rates_the_babysitter_chose() -> None:
    sitter = Babysitter(
        {**PARAMS, "learning_rate": 20.0, "optimizer": "sgd", "batch_size": 16},
        segments=4,
        epochs_per_segment=2,
        seed=0,
        n_threads=1,
    )
    trial = babysit(sitter, *tiny_data())
    actions = [d["action"] for d in trial.extras["decisions"]]
    assert trial.status == "ok" and actions.count("cut_and_restore") == 2
    X, y = np.vstack(tiny_data()[::2]), np.concatenate(tiny_data()[1::2])
    model = refit(trial, {"n_threads": 1}, X, y)
    epochs = refit_settings(trial, {})["max_epochs"]
    # Both cut segments were rewound, so the refit follows only the path to the final weights.
    assert model.history_.learning_rate == pytest.approx(trial.curves["learning_rate"][:epochs])
    assert model.history_.learning_rate == pytest.approx([2.0, 2.0, 0.2, 0.2][:epochs])
    assert model.status_ == "ok" and model.score(X, y) > 0.8


def test_without_a_rate_curve_the_refit_uses_the_trial_s_own_rate() -> None:
    trial = _trial({**PARAMS, "max_epochs": 4, "patience": None})
    bare = dataclasses.replace(trial, curves={"val_loss": trial.curves["val_loss"]})
    assert replayed_rates(bare, 3) is None
    assert replayed_rates(trial, 3) == pytest.approx(trial.curves["learning_rate"][:3])
    X, y = tiny_data()[:2]
    model = refit(bare, {"n_threads": 1}, X, y)
    assert set(model.history_.learning_rate) == {PARAMS["learning_rate"]}
