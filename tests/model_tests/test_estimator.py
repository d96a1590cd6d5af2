"""BNSoftmaxClassifier keeps scikit-learn's contract and learns real data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits, make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from data import DatasetSpec, load, sample_path
from models import BNSoftmaxClassifier


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, ...]:
    X, y = load_digits(return_X_y=True)
    return tuple(train_test_split(X, y, test_size=0.25, random_state=0, stratify=y))


@pytest.mark.slow
def test_learns_digits_to_95_percent(digits: tuple[np.ndarray, ...]) -> None:
    X_train, X_test, y_train, y_test = digits
    model = make_pipeline(StandardScaler(), BNSoftmaxClassifier(random_state=0))
    model.fit(X_train, y_train)
    assert model.score(X_test, y_test) >= 0.95


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_plain_sgd_at_learning_rate_10_diverges(seed: int) -> None:
    frame = load(DatasetSpec(path=sample_path("rainfall.csv"), label="rain")).iloc[:3000]
    X, y = frame.drop(columns="rain"), frame["rain"]
    model = BNSoftmaxClassifier(optimizer="sgd", learning_rate=10.0, random_state=seed)
    model.fit(X, y)
    assert model.status_ == "diverged"
    assert 1 <= len(model.history_) < model.max_epochs
    assert "rose above the untrained model" in model.divergence_


def test_the_same_data_trains_fine_at_a_sane_learning_rate() -> None:
    frame = load(DatasetSpec(path=sample_path("rainfall.csv"), label="rain")).iloc[:3000]
    X, y = frame.drop(columns="rain"), frame["rain"]
    model = BNSoftmaxClassifier(optimizer="sgd", learning_rate=0.1, max_epochs=10, random_state=0)
    assert model.fit(X, y).status_ == "ok"
    assert model.divergence_ == ""


def test_two_classes_without_hidden_layers_agree_with_logistic_regression() -> None:
    X, y = make_classification(
        n_samples=600, n_features=6, n_informative=4, class_sep=2.0, random_state=0
    )
    X = StandardScaler().fit_transform(X)
    ours = BNSoftmaxClassifier(
        n_layers=0, learning_rate=5e-2, max_epochs=100, patience=None, random_state=0
    ).fit(X, y)
    theirs = LogisticRegression(C=np.inf, max_iter=5000).fit(X, y)
    agreement = np.mean(ours.predict(X) == theirs.predict(X))
    assert agreement >= 0.98
    np.testing.assert_allclose(ours.predict_proba(X).sum(axis=1), 1.0, atol=1e-9)


def test_pipeline_with_cross_val_score_and_clone() -> None:
    X, y = make_classification(n_samples=300, n_features=8, n_informative=5, random_state=1)
    estimator = BNSoftmaxClassifier(max_epochs=15, random_state=0)
    scores = cross_val_score(make_pipeline(StandardScaler(), estimator), X, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.75
    twin = clone(estimator)
    assert twin.get_params() == estimator.get_params()
    assert not hasattr(twin, "model_")


def test_string_labels_and_pandas_input() -> None:
    X, y = make_classification(
        n_samples=240, n_features=5, n_informative=4, n_redundant=0, n_classes=3, random_state=2
    )
    names = np.array(["fog", "rain", "sun"])[y]
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)])
    model = BNSoftmaxClassifier(max_epochs=20, random_state=0).fit(frame, names)
    assert list(model.classes_) == ["fog", "rain", "sun"]
    assert model.n_features_in_ == 5
    assert list(model.feature_names_in_) == list(frame.columns)
    assert set(model.predict(frame)) <= {"fog", "rain", "sun"}
    assert model.score(frame, names) > 0.7
    assert model.status_ == "ok" and len(model.history_) == model.n_epochs_


def test_same_random_state_gives_identical_predictions() -> None:
    X, y = make_classification(n_samples=200, n_features=6, random_state=3)
    first = BNSoftmaxClassifier(max_epochs=10, random_state=42).fit(X, y).predict_proba(X)
    second = BNSoftmaxClassifier(max_epochs=10, random_state=42).fit(X, y).predict_proba(X)
    other = BNSoftmaxClassifier(max_epochs=10, random_state=43).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, other)


def test_eval_set_replaces_the_random_validation_split() -> None:
    X, y = make_classification(n_samples=200, n_features=6, random_state=4)
    model = BNSoftmaxClassifier(max_epochs=5, patience=None, random_state=0)
    model.fit(X[:150], y[:150], eval_set=(X[150:], y[150:]))
    last = model.history_.val_accuracy[-1]
    assert last == pytest.approx(model.score(X[150:], y[150:]))


def test_a_label_only_the_validation_set_has_becomes_a_class() -> None:
    X, y = make_classification(n_samples=200, n_features=6, random_state=6)
    labels = np.array(["rain", "sun"], dtype=object)[y]
    y_val = labels[150:].copy()
    y_val[:5] = "snow"  # drift brought a label the training slice never had
    model = BNSoftmaxClassifier(max_epochs=3, random_state=0)
    model.fit(X[:150], labels[:150], eval_set=(X[150:], y_val))
    assert "snow" in list(model.classes_) and len(model.classes_) == 3
    assert model.predict_proba(X[:3]).shape == (3, 3)


def test_single_class_is_refused() -> None:
    with pytest.raises(ValueError, match="two classes"):
        BNSoftmaxClassifier().fit(np.zeros((10, 2)), np.ones(10))


def test_segment_training_through_the_estimator_resumes() -> None:
    X, y = make_classification(n_samples=200, n_features=6, random_state=5)
    params = dict(max_epochs=6, patience=None, random_state=0)
    whole = BNSoftmaxClassifier(**params).fit(X, y)  # type: ignore[arg-type]
    stepwise = BNSoftmaxClassifier(**params)  # type: ignore[arg-type]
    trainer = stepwise.start_training(X, y)
    trainer.train(3)
    trainer.train(3)
    stepwise.finish_training(trainer, seconds=0.0)
    np.testing.assert_array_equal(whole.predict_proba(X), stepwise.predict_proba(X))


def test_the_torch_free_settings_match_the_estimator_and_the_network() -> None:
    """models/settings.py restates the defaults and names; the two must never part ways."""
    from models.net import ACTIVATIONS
    from models.settings import ACTIVATION_NAMES, DEFAULTS

    assert BNSoftmaxClassifier().get_params() == DEFAULTS
    assert ACTIVATION_NAMES == tuple(ACTIVATIONS)


def test_n_threads_holds_only_while_training() -> None:
    """torch's thread count is per process: a fit with n_threads puts the caller's count back."""
    import torch

    X, y = make_classification(n_samples=120, n_features=4, random_state=0)
    before = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        model = BNSoftmaxClassifier(n_threads=1, max_epochs=2, random_state=0).fit(X, y)
        assert torch.get_num_threads() == 3
        assert model.predict(X).shape == (120,)
    finally:
        torch.set_num_threads(before)
