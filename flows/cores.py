"""How many fits run side by side, and on how many torch threads each.

Every fit of a retune (its trials, the window choice's, the refits, the backtest's baselines)
trains on ``threads_per_trial`` torch threads: torch's sums come out in another order on another
thread count, so a fit on torch's default (one thread per core) neither reproduces from run to
run on a busy machine nor runs as fast as its trial beside other work.
"""

from __future__ import annotations

import os

from flows.config import ProjectConfig


def parallel_trials(config: ProjectConfig) -> int:
    """Trials (and refits) side by side: ``runner.max_workers``, else one per core."""
    cores = os.cpu_count() or 1
    return config.runner.max_workers or min(cores, config.search.trials_per_round)


def threads_per_trial(config: ProjectConfig) -> int:
    """torch threads per fit, so that fits side by side times threads never exceed the cores."""
    return max(1, (os.cpu_count() or 1) // parallel_trials(config))
