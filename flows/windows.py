"""The retune's window length, chosen among the configured candidates (models/window_choice.py)."""

from __future__ import annotations

from data.preprocessing import encode_train_test
from data.schema import resolve_features
from data.window import window_trials
from flows.config import ProjectConfig
from flows.cores import threads_per_trial
from models.trial import estimator_settings
from models.window_choice import TrialRows, WindowChoice, choose_window


def choose_training_window(config: ProjectConfig) -> WindowChoice | None:
    """The candidate length that best predicted the newest batch; None with nothing to choose.

    A candidate whose rows hold a single class cannot train and is left out.
    """
    spec = config.spec()
    trials = window_trials(spec, config.window.candidates)
    if trials is None:
        return None
    newest, frames = trials
    features = resolve_features(spec, newest.frame)
    rows: dict[int, TrialRows] = {
        k: encode_train_test(frame, newest.frame, spec, features)
        for k, frame in frames.items()
        if frame[spec.label].dropna().nunique() >= 2
    }
    if len(rows) < 2:
        return None
    # The trials' thread count (flows.cores): the same data gives the same choice, so a resumed
    # retune finds its search.
    settings = estimator_settings(
        config.search.plan.fixed, {}, config.search.plan.seed, n_threads=threads_per_trial(config)
    )
    return choose_window(rows, settings)
