"""Warm-start configurations fitted into the current search space before they are re-trained.

A warm start re-trains the champion's configuration and the previous search's best (see
``models.search.caviar.warm_start``). Those were chosen in an earlier space; when the config's space
has changed since, they may lie outside it, and a search must only train what its space allows.
Each value is moved to the nearest one the space's distribution can produce (a number clipped
into its bounds, on its own scale), or dropped when there is none (a choice no longer offered), so
the strategy samples that parameter afresh. Every change comes back as a note for the flow's log.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from models.search.space import SearchSpace
from models.settings import DEFAULTS


def fit_to_space(
    configs: Sequence[Mapping[str, Any]], space: SearchSpace
) -> tuple[list[dict[str, Any]], list[str]]:
    """``configs`` moved inside ``space``, and one note per change, in order.

    Per configuration: a parameter the space does not search is dropped (the fixed settings
    or the estimator's default apply to it); a value outside its distribution becomes the
    nearest one inside, or is dropped when there is none. A complete configuration that ends
    up equal to an earlier one is left out: the same trial twice would only spend the budget.
    """
    fitted: list[dict[str, Any]] = []
    notes: list[str] = []
    seen: set[str] = set()
    for number, config in enumerate(configs, start=1):
        moved, changes = _fit_one(config, space)
        notes += [f"warm-start configuration {number}: {change}" for change in changes]
        key = json.dumps(moved, sort_keys=True, default=str)
        if key in seen and set(moved) == set(space):  # a dropped value is sampled anew: kept
            notes.append(f"warm-start configuration {number}: the same as an earlier one, left out")
            continue
        seen.add(key)
        fitted.append(moved)
    return fitted, notes


def _fit_one(config: Mapping[str, Any], space: SearchSpace) -> tuple[dict[str, Any], list[str]]:
    moved: dict[str, Any] = {}
    changes: list[str] = []
    for name, value in config.items():
        distribution = space.get(name)
        if distribution is None:
            changes.append(f"{name} is not searched now, dropped")
            continue
        if distribution.contains(value):
            moved[name] = value
            continue
        nearest = distribution.nearest(value)
        if nearest is None:
            changes.append(f"{name} {value!r} is outside {distribution!r}, dropped (sampled anew)")
        else:
            moved[name] = nearest
            changes.append(f"{name} {value!r} is outside {distribution!r}, moved to {nearest!r}")
    return moved, changes


def standing_configuration(space: SearchSpace, fixed: Mapping[str, Any]) -> dict[str, Any]:
    """The fixed configuration as a point of ``space``: each searched parameter at the value a
    trial takes when nothing searches it (the project's fixed setting, else the estimator's
    default). Trained first in every search, so that a search replaces what a cron job would
    fit only when some trial does better on the same rows."""
    return {name: fixed.get(name, DEFAULTS[name]) for name in space}
