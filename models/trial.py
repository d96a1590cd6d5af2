"""Where a trial's parameters become estimator settings, and which training rows it uses.

A searched configuration mixes estimator settings (learning rate, layers, ...) with one data
setting: ``window_periods``, how many periods of history before the validation rows a trial
trains on. ``estimator_settings`` is the one place fixed settings, searched parameters and the
seed become ``BNSoftmaxClassifier`` settings, so the data setting never reaches the estimator.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

WINDOW = "window_periods"
DATA_PARAMS = frozenset({WINDOW})


def estimator_settings(
    fixed: Mapping[str, Any], params: Mapping[str, Any], seed: int, **overrides: Any
) -> dict[str, Any]:
    """``fixed`` under the searched ``params`` (data settings left out), seeded, then overrides."""
    searched = {name: value for name, value in params.items() if name not in DATA_PARAMS}
    return {**fixed, **searched, "random_state": seed, **overrides}


def window_of(params: Mapping[str, Any]) -> int | None:
    """The trial's training window in periods; None for the project's base window."""
    value = params.get(WINDOW)
    return None if value is None else int(value)
