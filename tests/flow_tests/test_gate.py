"""The candidate the gate judges: a refit on train + validation, never a diverged one."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from data.window import TrainingData, prepare_training_data
from flows.config import load_config
from flows.gate import refit_candidate, window_candidate
from flows.store.packaging import Scorer
from models import BNSoftmaxClassifier
from models.search.trials import TrialResult
from models.trial import make_train_fn
from tests.flow_tests.projects import batch, land, make_project

PARAMS = {"n_layers": 1, "hidden_units": 16, "batch_size": 32, "learning_rate": 0.05}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TrainingData]:
    root = tmp_path_factory.mktemp("gate")
    config_path = make_project(root)
    land(root, "a-2024-01", batch(np.random.default_rng(0), "2024-01-01"))
    config = load_config(config_path)
    window = config.window
    data = prepare_training_data(
        config.spec(),
        periods=window.periods,
        validation=window.validation,
        holdout=window.holdout,
    )
    return config_path, data


def _trial(data: TrainingData) -> TrialResult:
    rows = data.encoded
    train = make_train_fn(rows.X_train, rows.y_train, rows.X_val, rows.y_val, n_threads=1)
    trial = train({**PARAMS, "max_epochs": 8}, 7)
    assert trial.status == "ok"
    return trial


def _holdout_accuracy(data: TrainingData, scorer: Scorer) -> float:
    frame = data.split.holdout
    predicted = scorer.score(frame)["prediction"]
    return float(np.mean(predicted.to_numpy() == frame["label"].to_numpy()))


def test_the_candidate_is_refit_on_training_and_validation_rows(
    project: tuple[Path, TrainingData],
) -> None:
    config_path, data = project
    candidate = refit_candidate(load_config(config_path), data, ((_trial(data), 1.0),), n_threads=1)
    assert candidate.fit.startswith("refit on training + validation rows")
    # The refit trains on the thread count it is given (its trial's), and says so.
    assert candidate.fit.endswith("epochs on 1 torch thread")
    two = refit_candidate(load_config(config_path), data, ((_trial(data), 1.0),), n_threads=2)
    assert two.fit.endswith("epochs on 2 torch threads")
    assert _holdout_accuracy(data, candidate.scorer) > 0.8


def test_a_diverged_refit_falls_back_to_the_search_s_model(
    project: tuple[Path, TrainingData],
) -> None:
    config_path, data = project
    trial = _trial(data)
    # Replaying an exploding rate makes the refit diverge; the trial's own rate trains fine.
    exploding = dict(trial.curves, learning_rate=[1e4] * len(trial.curves["val_loss"]))
    params = {**trial.params, "optimizer": "sgd"}
    doomed = dataclasses.replace(trial, params=params, curves=exploding)
    candidate = refit_candidate(load_config(config_path), data, ((doomed, 1.0),), n_threads=1)
    assert candidate.fit.startswith("the search's model: the refit diverged")
    assert _holdout_accuracy(data, candidate.scorer) > 0.8

    rows = data.encoded
    searched = BNSoftmaxClassifier(**PARAMS, max_epochs=4, random_state=1, n_threads=1)
    searched.fit(rows.X_train, rows.y_train, eval_set=(rows.X_val, rows.y_val))
    given = refit_candidate(load_config(config_path), data, ((doomed, 1.0),), searched, n_threads=1)
    assert given.scorer.network is searched.model_


def test_a_promoted_configuration_is_refit_on_the_whole_window(
    project: tuple[Path, TrainingData],
) -> None:
    config_path, data = project
    trial = _trial(data)
    judged = refit_candidate(load_config(config_path), data, ((trial, 1.0),), n_threads=1)
    final = window_candidate(load_config(config_path), data, ((trial, 1.0),), n_threads=1)
    assert final is not None and final.on_window and not judged.on_window
    assert final.fit.startswith(f"refit on the whole window ({len(data.window)} rows)")
    # Its preprocessing, like its network, learned from every row, the holdout's included.
    for scorer, rows in ((final.scorer, data.window), (judged.scorer, data.reference)):
        means = [column.mean for column in scorer.encoding.numeric]
        assert means == pytest.approx(list(rows[["x1", "x2"]].mean()))
    # Same configuration and epoch count as the judged refit: the epochs named alike.
    assert final.fit.split(", ")[-1] == judged.fit.split(", ")[-1]


def test_a_window_refit_that_diverges_gives_none(project: tuple[Path, TrainingData]) -> None:
    config_path, data = project
    trial = _trial(data)
    exploding = dict(trial.curves, learning_rate=[1e4] * len(trial.curves["val_loss"]))
    doomed = dataclasses.replace(
        trial, params={**trial.params, "optimizer": "sgd"}, curves=exploding
    )
    assert window_candidate(load_config(config_path), data, ((doomed, 1.0),), n_threads=1) is None


def _other_trial(data: TrainingData) -> TrialResult:
    rows = data.encoded
    train = make_train_fn(rows.X_train, rows.y_train, rows.X_val, rows.y_val, n_threads=1)
    trial = train({"n_layers": 2, "hidden_units": 8, "batch_size": 16, "max_epochs": 8}, 11)
    assert trial.status == "ok"
    return dataclasses.replace(trial, index=5)


def test_an_ensemble_candidate_refits_every_member(project: tuple[Path, TrainingData]) -> None:
    config_path, data = project
    first, second = dataclasses.replace(_trial(data), index=2), _other_trial(data)
    members = ((first, 0.75), (second, 0.25))
    candidate = refit_candidate(load_config(config_path), data, members, n_threads=1)
    assert candidate.fit.startswith("an ensemble of 2 trials (trial 2 x 0.75, trial 5 x 0.25)")
    assert candidate.scorer.weights == (0.75, 0.25)
    shapes = [len(network.hidden) for network in candidate.scorer.networks]
    assert shapes == [1, 2]
    final = window_candidate(load_config(config_path), data, members, n_threads=1)
    assert final is not None and len(final.scorer.networks) == 2
    assert _holdout_accuracy(data, candidate.scorer) > 0.8


def test_a_member_whose_refit_diverges_is_left_out(project: tuple[Path, TrainingData]) -> None:
    config_path, data = project
    trial = _trial(data)
    exploding = dict(trial.curves, learning_rate=[1e4] * len(trial.curves["val_loss"]))
    doomed = dataclasses.replace(
        trial, params={**trial.params, "optimizer": "sgd"}, curves=exploding, index=3
    )
    candidate = refit_candidate(
        load_config(config_path), data, ((doomed, 0.5), (_other_trial(data), 0.5)), n_threads=1
    )
    assert "1 member(s) diverged and were left out" in candidate.fit
    assert candidate.scorer.weights == (1.0,) and len(candidate.scorer.networks[0].hidden) == 2
