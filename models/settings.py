"""The classifier's settings and the rules their values follow, checked without torch.

BNSoftmaxClassifier's defaults and every value rule its ``fit`` applies (the training rules of
``TrainConfig`` and the network's shape rules), in plain Python: a config names a bad
``search.fixed`` or search-space value when it loads, in well under a second, instead of after
importing torch (about 2 s of CPU). models/training.py, models/net.py and
models/estimator.py apply these same functions, so the rules live in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

OPTIMIZERS = ("sgd", "momentum", "rmsprop", "adam")
ACTIVATION_NAMES = ("relu", "leaky_relu", "tanh", "sigmoid", "elu")
# BNSoftmaxClassifier's constructor defaults (a test holds the two equal).
DEFAULTS: dict[str, Any] = {
    "n_layers": 2,
    "hidden_units": 64,
    "learning_rate": 1e-2,
    "momentum": 0.9,
    "beta2": 0.999,
    "optimizer": "adam",
    "batch_size": 64,
    "max_epochs": 50,
    "patience": 10,
    "bn_momentum": 0.1,
    "weight_decay": 0.0,
    "validation_fraction": 0.1,
    "random_state": None,
    "activation": "relu",
    "lr_decay": 0.0,
    "n_threads": None,
}


def check_training(settings: Mapping[str, Any]) -> None:
    """How to train (TrainConfig's fields): a ValueError naming the first one out of range."""
    optimizer, learning_rate = settings["optimizer"], settings["learning_rate"]
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be positive, got {learning_rate}")
    if not 0 <= settings["momentum"] < 1 or not 0 <= settings["beta2"] < 1:
        raise ValueError("momentum and beta2 must lie in [0, 1)")
    if settings["batch_size"] < 2:
        raise ValueError(
            f"batch_size must be at least 2 for batch norm, got {settings['batch_size']}"
        )
    if settings["max_epochs"] < 1:
        raise ValueError(f"max_epochs must be at least 1, got {settings['max_epochs']}")
    patience = settings["patience"]
    if patience is not None and patience < 1:
        raise ValueError(f"patience must be at least 1 or None, got {patience}")
    if settings["lr_decay"] < 0 or settings["weight_decay"] < 0:
        raise ValueError("lr_decay and weight_decay must be non-negative")


def check_shape(
    n_features: int, n_classes: int, n_layers: int, hidden_units: int, activation: str
) -> None:
    """The network's shape: a ValueError naming the first size or name out of range."""
    if n_features < 1:
        raise ValueError(f"n_features must be at least 1, got {n_features}")
    if n_classes < 2:
        raise ValueError(f"n_classes must be at least 2, got {n_classes}")
    if n_layers < 0:
        raise ValueError(f"n_layers must be 0 or more, got {n_layers}")
    if n_layers > 0 and hidden_units < 1:
        raise ValueError(f"hidden_units must be at least 1, got {hidden_units}")
    if activation not in ACTIVATION_NAMES:
        raise ValueError(
            f"activation must be one of {sorted(ACTIVATION_NAMES)}, got {activation!r}"
        )


def check_settings(settings: Mapping[str, Any]) -> None:
    """Every setting's value, the defaults filling what ``settings`` leaves out.

    The checks ``fit`` makes, plus the ranges of ``validation_fraction`` and ``bn_momentum``.
    """
    merged = {**DEFAULTS, **settings}
    check_training(merged)
    check_shape(1, 2, merged["n_layers"], merged["hidden_units"], merged["activation"])
    if not 0 <= merged["validation_fraction"] < 1:
        raise ValueError(
            f"validation_fraction must lie in [0, 1), got {merged['validation_fraction']}"
        )
    if not 0 < merged["bn_momentum"] <= 1:
        raise ValueError(f"bn_momentum must lie in (0, 1], got {merged['bn_momentum']}")
