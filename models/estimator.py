"""BNSoftmaxClassifier: the scikit-learn estimator around BNSoftmaxNet and its Trainer."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from models.net import BNSoftmaxNet
from models.settings import check_settings
from models.training import History, TrainConfig, Trainer


class BNSoftmaxClassifier(ClassifierMixin, BaseEstimator):
    """A batch-norm softmax classifier trained with mini-batches, following scikit-learn's contract.

    Learned attributes: ``classes_``, ``n_features_in_``, ``model_`` (the torch module),
    ``history_`` (per-epoch curves), ``status_`` (``ok`` or ``diverged``), ``stop_reason_``,
    ``divergence_`` (why it diverged, in words),
    ``n_epochs_`` and ``train_seconds_``. Labels of any type are encoded to class indices; the
    cross-entropy on the logits equals the one on one-hot targets. ``fit`` takes an optional
    ``eval_set=(X_val, y_val)``, used instead of carving ``validation_fraction`` off ``X``; its
    labels join ``classes_`` even when the training rows lack them.
    """

    def __init__(
        self,
        n_layers: int = 2,
        hidden_units: int = 64,
        learning_rate: float = 1e-2,
        momentum: float = 0.9,
        beta2: float = 0.999,
        optimizer: str = "adam",
        batch_size: int = 64,
        max_epochs: int = 50,
        patience: int | None = 10,
        bn_momentum: float = 0.1,
        weight_decay: float = 0.0,
        validation_fraction: float = 0.1,
        random_state: int | None = None,
        activation: str = "relu",
        lr_decay: float = 0.0,
        n_threads: int | None = None,
    ) -> None:
        self.n_layers = n_layers
        self.hidden_units = hidden_units
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.beta2 = beta2
        self.optimizer = optimizer
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.bn_momentum = bn_momentum
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.activation = activation
        self.lr_decay = lr_decay
        self.n_threads = n_threads

    def fit(
        self, X: ArrayLike, y: ArrayLike, *, eval_set: tuple[ArrayLike, ArrayLike] | None = None
    ) -> BNSoftmaxClassifier:
        trainer = self.start_training(X, y, eval_set=eval_set)
        started = time.perf_counter()
        trainer.train()
        return self.finish_training(trainer, time.perf_counter() - started)

    def start_training(
        self, X: ArrayLike, y: ArrayLike, *, eval_set: tuple[ArrayLike, ArrayLike] | None = None
    ) -> Trainer:
        """Validate the data, build the network and return its Trainer, ready for segments."""
        X_arr, y_arr = validate_data(self, X, y, dtype=np.float32)
        check_classification_targets(y_arr)
        if len(np.unique(y_arr)) < 2:
            raise ValueError(
                f"need at least two classes to train, got 1 class: {list(np.unique(y_arr))}"
            )
        # Classes seen only in the validation set still get an output: drifting data brings
        # labels the training slice lacks, and validation must be able to count them as wrong.
        seen = y_arr if eval_set is None else np.concatenate([y_arr, np.asarray(eval_set[1])])
        self._encoder = LabelEncoder().fit(seen)
        self.classes_ = self._encoder.classes_
        seed = _seed_from(self.random_state)
        x_tr, y_tr, x_val, y_val = self._split(
            X_arr, self._encoder.transform(y_arr), eval_set, seed
        )
        generator = torch.Generator().manual_seed(seed)
        self.model_ = BNSoftmaxNet(
            n_features=X_arr.shape[1],
            n_classes=len(self.classes_),
            n_layers=self.n_layers,
            hidden_units=self.hidden_units,
            activation=self.activation,
            bn_momentum=self.bn_momentum,
            generator=generator,
        )
        return Trainer(
            self.model_,
            torch.from_numpy(x_tr),
            torch.from_numpy(y_tr),
            self._train_config(),
            x_val=None if x_val is None else torch.from_numpy(x_val),
            y_val=None if y_val is None else torch.from_numpy(y_val),
            generator=generator,
        )

    def finish_training(self, trainer: Trainer, seconds: float) -> BNSoftmaxClassifier:
        """Keep the best-validation weights and record the run's outcome as fitted attributes."""
        trainer.use_best_weights()
        self.model_.eval()
        self.history_: History = trainer.history
        self.status_ = "diverged" if trainer.status == "diverged" else "ok"
        self.stop_reason_ = trainer.stop_reason or "stopped"
        self.divergence_ = trainer.divergence
        self.stop_detail_ = trainer.stop_detail
        self.n_epochs_ = trainer.epoch
        self.train_seconds_ = seconds
        return self

    def predict_proba(self, X: ArrayLike) -> NDArray[np.float64]:
        check_is_fitted(self, "model_")
        X_arr = validate_data(self, X, dtype=np.float32, reset=False)
        self.model_.eval()
        with torch.inference_mode():
            logits = self.model_(torch.from_numpy(X_arr))
            return torch.softmax(logits.double(), dim=1).numpy()

    def predict(self, X: ArrayLike) -> NDArray[Any]:
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]  # type: ignore[no-any-return]

    def check_settings(self) -> None:
        """Refuse bad hyperparameters before any data is read (a ValueError naming the one).

        The checks ``fit`` makes, plus the ranges of ``validation_fraction`` and ``bn_momentum``:
        a config that sets them for every trial fails when it loads, not once per trial.
        """
        check_settings(self.get_params())

    def _train_config(self) -> TrainConfig:
        return TrainConfig(
            learning_rate=self.learning_rate,
            optimizer=self.optimizer,
            momentum=self.momentum,
            beta2=self.beta2,
            batch_size=self.batch_size,
            max_epochs=self.max_epochs,
            patience=self.patience,
            lr_decay=self.lr_decay,
            weight_decay=self.weight_decay,
            n_threads=self.n_threads,
        )

    def _split(
        self,
        X: NDArray[np.float32],
        y: NDArray[np.int64],
        eval_set: tuple[ArrayLike, ArrayLike] | None,
        seed: int,
    ) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any] | None, NDArray[Any] | None]:
        y = y.astype(np.int64)
        if eval_set is not None:
            X_val = validate_data(self, eval_set[0], dtype=np.float32, reset=False)
            y_val = self._encoder.transform(np.asarray(eval_set[1])).astype(np.int64)
            return X, y, X_val, y_val
        n_val = math.ceil(self.validation_fraction * len(y))  # as train_test_split rounds
        if not self.validation_fraction or len(y) - n_val < 2:
            # Too few rows to hold any out and still train: no validation, no early stopping.
            return X, y, None, None
        n_classes = len(np.unique(y))
        # Stratify where each side can hold every class; a tiny window splits plainly instead.
        stratifiable = np.bincount(y).min() >= 2 and min(n_val, len(y) - n_val) >= n_classes
        stratify = y if stratifiable else None
        X_tr, X_val, y_tr, y_val = train_test_split(
            X, y, test_size=self.validation_fraction, random_state=seed, stratify=stratify
        )
        return X_tr, y_tr, X_val, y_val

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        return tags


def _seed_from(random_state: int | None) -> int:
    if random_state is None:
        return int(np.random.default_rng().integers(2**31 - 1))
    return int(random_state)
