"""The one place a trial's fixed settings, searched parameters and seed become estimator settings.

A search samples a few parameters; every trial also shares the project's fixed settings
(``search.fixed``), and its seed becomes the estimator's ``random_state``. Training a trial,
refitting the winner and babysitting it all build the estimator from here, so the three agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def estimator_settings(
    fixed: Mapping[str, Any], params: Mapping[str, Any], seed: int, **overrides: Any
) -> dict[str, Any]:
    """``fixed`` under the searched ``params``, seeded, then ``overrides`` on top."""
    return {**fixed, **params, "random_state": seed, **overrides}
