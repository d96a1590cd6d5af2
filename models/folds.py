"""The rows a search judges its trials on: one validation slice, or time-blocked folds.

With a large window the newest slice before the holdout validates every trial, as it always
did. With a small one that slice is a few dozen rows, and the trial that scores best on them is
as often the luckiest as the best. Time-blocked k-fold cross-validation judges every trial on
every row the search may learn from instead: the train + validation rows, in time order, are cut
into ``k`` contiguous blocks; fold ``i`` trains on the other blocks and validates on block ``i``
(blocks, not shuffled rows, so that neighbouring days do not sit on both sides of a fold). Each
row's prediction comes from the one fold that held it out ("out-of-fold"), and a trial's score is
its accuracy over all of them.

``merge_fold_results`` turns the k per-fold results of one configuration into the one
``TrialResult`` the search sees.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from models.search.trials import TrialResult


@dataclass(frozen=True)
class Fold:
    """Rows a trial trains on and the rows that validate it (early stopping and its score)."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray


def time_blocked_folds(
    X_train: np.ndarray, y_train: np.ndarray, X_val: np.ndarray, y_val: np.ndarray, k: int
) -> tuple[Fold, ...]:
    """``k`` folds over the train + validation rows (in time order); ``k == 1``: the split as is."""
    if k < 1:
        raise ValueError(f"folds must be at least 1, got {k}")
    if k == 1:
        return (Fold(X_train, y_train, X_val, y_val),)
    X, y = np.concatenate([X_train, X_val]), np.concatenate([y_train, y_val])
    if len(y) < 2 * k:
        raise ValueError(f"{len(y)} rows cannot make {k} folds of two rows or more")
    edges = np.linspace(0, len(y), k + 1).round().astype(int)
    folds = []
    for start, stop in zip(edges[:-1], edges[1:], strict=True):
        inside = np.zeros(len(y), dtype=bool)
        inside[start:stop] = True
        folds.append(Fold(X[~inside], y[~inside], X[inside], y[inside]))
    return tuple(folds)


def judging_folds_for(rows: Any, *, folds: int, below_rows: int) -> tuple[Fold, ...]:
    """Time-blocked ``folds`` over ``rows`` (train and validation arrays, as
    ``data.preprocessing.EncodedSplit`` holds them) when they number fewer than ``below_rows``;
    else the validation slice alone. Fewer rows than two a fold: the slice alone too."""
    n_rows = len(rows.y_train) + len(rows.y_val)
    k = folds if n_rows < below_rows and n_rows >= 2 * folds else 1
    return time_blocked_folds(rows.X_train, rows.y_train, rows.X_val, rows.y_val, k)


def judged_labels(folds: Sequence[Fold]) -> np.ndarray:
    """The true labels of the rows the trials' ``predictions`` cover, in the same order."""
    return np.concatenate([fold.y_val for fold in folds])


def merge_fold_results(results: Sequence[TrialResult], sizes: Sequence[int]) -> TrialResult:
    """One configuration's per-fold results as one trial.

    A fold that diverged or failed makes the trial so (its error names the fold); a pruned
    fold makes it pruned. Otherwise the scores are the out-of-fold ones (each fold's weighted
    by its validation rows: the accuracy and log-loss of all held-out rows together), the
    predictions are the folds' in row order, ``best_epoch`` is the median of the folds' best
    epochs (what a refit on all rows trains for) and each curve is the mean over the folds
    still training at that epoch.
    """
    if len(results) == 1:
        return results[0]
    first = results[0]
    for number, result in enumerate(results, start=1):
        if result.broken:
            return replace(result, error=f"fold {number} of {len(results)}: {result.error}")
    weights = np.asarray(sizes, dtype=np.float64) / float(sum(sizes))
    metrics = {
        name: float(
            sum(w * r.metrics.get(name, math.nan) for w, r in zip(weights, results, strict=True))
        )
        for name in ("val_accuracy", "val_log_loss")
    }
    metrics["epochs"] = float(np.mean([r.metrics.get("epochs", 0.0) for r in results]))
    metrics["train_seconds"] = float(sum(r.metrics.get("train_seconds", 0.0) for r in results))
    metrics["best_epoch"] = float(np.median([r.best_epoch for r in results]))
    metrics["folds"] = float(len(results))
    pruned = [r for r in results if r.status == "pruned"]
    predictions = [r.predictions for r in results]
    return replace(
        first,
        status="pruned" if pruned else "ok",
        error=pruned[0].error if pruned else "",
        metrics=metrics,
        curves=_mean_curves(results),
        duration_s=float(sum(r.duration_s for r in results)),
        predictions=None if any(p is None for p in predictions) else np.concatenate(predictions),  # type: ignore[arg-type]
    )


def _mean_curves(results: Sequence[TrialResult]) -> dict[str, list[float]]:
    names = sorted({name for r in results for name in r.curves})
    curves = {}
    for name in names:
        series = [list(r.curves.get(name, ())) for r in results]
        length = max(len(s) for s in series)
        padded = np.full((len(series), length), np.nan)
        for row, values in enumerate(series):
            padded[row, : len(values)] = values
        with np.errstate(invalid="ignore"):
            counts = np.sum(~np.isnan(padded), axis=0)
            curves[name] = (np.nansum(padded, axis=0) / np.maximum(counts, 1)).tolist()
    return curves
