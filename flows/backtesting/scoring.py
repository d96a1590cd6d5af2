"""Scoring one arriving batch with every policy, before the flows see it.

driftune's policy is the scratch project's current champion, loaded from its store as
``driftune predict`` loads it. The baselines are refit on the batch before (the newest labelled
data a cron job would have) with their own preprocessing fitted on those rows. Every policy is
scored on exactly the same rows: the batch's labelled ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from data.loading import Batch
from data.preprocessing import features_and_labels, make_preprocessor
from data.schema import DatasetSpec, resolve_features
from flows.cli import progress
from flows.config import ProjectConfig
from flows.cores import threads_per_trial
from flows.store.handle import Store
from flows.store.registry import load_version_model
from models.baselines import fit_fixed, fit_hist_gradient_boosting, fit_random_search

DRIFTUNE = "driftune"
BASELINES = ("fixed_refit", "hist_gradient_boosting", "random_search")


@dataclass(frozen=True)
class BatchScores:
    """Each policy's accuracy on one batch, and which champion versions were scored."""

    rows: int
    accuracy: Mapping[str, float]
    champion_version: str
    replaced_version: str | None = None
    replaced_accuracy: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "accuracy": dict(self.accuracy),
            "champion_version": self.champion_version,
            "replaced_version": self.replaced_version,
            "replaced_accuracy": self.replaced_accuracy,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BatchScores:
        return cls(**dict(data))


@dataclass(frozen=True)
class Versions:
    """The champion now, the one it replaced since the last batch (if any), and the first."""

    champion: str
    first: str
    replaced: str | None


BaselineFit = Callable[[np.ndarray, np.ndarray], Any]


def baseline_fits(
    config: ProjectConfig, names: Sequence[str], *, seed: int, search_trials: int
) -> dict[str, BaselineFit]:
    """The refit-on-the-previous-batch baselines asked for, as functions of encoded rows.

    Each trains on the thread count driftune's own fits use (flows.cores), so the baselines
    reproduce as the policy does.
    """
    fixed = dict(config.search.fixed)
    n = threads_per_trial(config)
    fits: dict[str, BaselineFit] = {
        "fixed_refit": lambda X, y: fit_fixed(X, y, fixed=fixed, seed=seed, n_threads=n),
        "hist_gradient_boosting": lambda X, y: fit_hist_gradient_boosting(
            X, y, seed=seed, n_threads=n
        ),
        "random_search": lambda X, y: fit_random_search(
            X,
            y,
            space=config.search.plan.space,
            fixed=fixed,
            trials=search_trials,
            seed=seed,
            n_threads=n,
        ),
    }
    return {name: fits[name] for name in names if name in fits}


def score_batch(
    store: Store,
    spec: DatasetSpec,
    batch: Batch,
    previous: Batch,
    versions: Versions,
    baselines: Mapping[str, BaselineFit],
    *,
    never_retrain: bool = True,
) -> BatchScores:
    """Every policy's accuracy on ``batch``'s labelled rows."""
    labelled = batch.frame[batch.frame[spec.label].notna()]
    y = labelled[spec.label].to_numpy()
    progress.report_activity(f"{batch.id}: scoring the champion")
    accuracy = {DRIFTUNE: _model_accuracy(store, versions.champion, labelled, y)}
    if never_retrain:
        accuracy["never_retrain"] = _model_accuracy(store, versions.first, labelled, y)
    accuracy.update(_baseline_accuracies(spec, previous, batch.id, labelled, baselines))
    replaced_accuracy = None
    if versions.replaced is not None:
        replaced_accuracy = _model_accuracy(store, versions.replaced, labelled, y)
    return BatchScores(
        rows=len(y),
        accuracy=accuracy,
        champion_version=versions.champion,
        replaced_version=versions.replaced,
        replaced_accuracy=replaced_accuracy,
    )


def _model_accuracy(store: Store, version: str, rows: pd.DataFrame, y: np.ndarray) -> float:
    predicted = load_version_model(store, version).predict(rows)["prediction"]
    return float(np.mean(predicted.to_numpy() == y))


def _baseline_accuracies(
    spec: DatasetSpec,
    before: Batch,
    scored: str,
    current: pd.DataFrame,
    baselines: Mapping[str, BaselineFit],
) -> dict[str, float]:
    previous = before.frame
    features = resolve_features(spec, previous)
    X_prev, y_prev = features_and_labels(previous, spec, features)
    X_now, y_now = features_and_labels(current, spec, features)
    preprocessor = make_preprocessor(features).fit(X_prev)
    encoded_prev = np.asarray(preprocessor.transform(X_prev), dtype=np.float32)
    encoded_now = np.asarray(preprocessor.transform(X_now), dtype=np.float32)
    truth = y_now.to_numpy()
    scores = {}
    for name, fit in baselines.items():
        progress.report_activity(f"{scored}: baseline {name}, refit on {before.id}")
        model = fit(encoded_prev, y_prev.to_numpy())
        scores[name] = float(np.mean(model.predict(encoded_now) == truth))
    return scores
