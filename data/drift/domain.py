"""The multivariate drift check: can a classifier tell reference rows from current rows?

Per-feature tests see each marginal alone, so a change in how features relate (a correlation that
flips sign while each feature keeps its distribution) passes them all. A small gradient-boosted
tree model trained to separate the two samples sees the joint distribution: if its held-out
AUC is above 0.5 by more than chance, the joint distributions differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

# Small and fixed so the check stays fast (tens of milliseconds on a few thousand rows) yet
# deep enough (8 leaves) to model interactions between features.
MAX_ITER = 30
MAX_LEAF_NODES = 8
LEARNING_RATE = 0.2
MIN_ROWS_PER_SIDE = 20
# HistGradientBoosting takes at most 255 categories a feature; rarer ones share one code.
MAX_CATEGORIES = 250


@dataclass(frozen=True)
class DomainTest:
    """Held-out AUC of reference-vs-current, its z score and one-sided p-value (AUC > 0.5)."""

    auc: float
    z: float
    p_value: float
    n_reference: int
    n_current: int
    n_held_out: int


def domain_classifier_test(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str],
    *,
    seed: int,
) -> DomainTest | None:
    """Held-out domain classifier; None when either side has too few rows to split.

    The model trains on a stratified half of the rows and scores the other half; the held-out
    scores' Mann-Whitney U is the AUC times n0 * n1, and its rank test is exact in level because
    under no drift the held-out labels are exchangeable with respect to scores from a model that
    never saw them. (Pooling U over cross-validation folds is not: each fold's model learns the
    chance imbalance of the other fold's rows, the fold statistics correlate, and at a nominal 5%
    the pooled 2-fold test rejected 6 of 60 drift-free sample pairs; on 200 random halves of one
    table it gave p < 1e-5 twice.)
    """
    if min(len(reference), len(current)) < MIN_ROWS_PER_SIDE:
        return None
    features = _encode(reference, current, numeric, categorical)
    is_current = np.concatenate((np.zeros(len(reference)), np.ones(len(current))))
    train, test = train_test_split(
        np.arange(len(is_current)), test_size=0.5, stratify=is_current, random_state=seed
    )
    model = HistGradientBoostingClassifier(
        max_iter=MAX_ITER,
        max_leaf_nodes=MAX_LEAF_NODES,
        learning_rate=LEARNING_RATE,
        early_stopping=False,
        categorical_features=_categorical_mask(len(numeric), len(categorical)),
        random_state=seed,
    )
    # One thread: on a few thousand rows it is as fast, and OpenMP threads spin badly when the
    # check shares the CPU with trials (50 ms became 2 s on a loaded two-core machine).
    with threadpool_limits(limits=1, user_api="openmp"):
        model.fit(features[train], is_current[train])
        scores = model.predict_proba(features[test])[:, 1]
    u, pairs, variance = _mann_whitney(scores, is_current[test])
    z = (u - pairs / 2) / np.sqrt(variance) if variance > 0 else 0.0
    return DomainTest(
        auc=float(u / pairs),
        z=float(z),
        p_value=float(stats.norm.sf(z)) if variance > 0 else 1.0,
        n_reference=len(reference),
        n_current=len(current),
        n_held_out=len(test),
    )


def _mann_whitney(
    scores: NDArray[np.float64], is_current: NDArray[np.float64]
) -> tuple[float, float, float]:
    """U of the current rows' scores over the reference rows', n0 * n1, and U's null variance."""
    ranks = stats.rankdata(scores)
    n1 = float(is_current.sum())
    n0 = float(len(scores) - n1)
    n = n0 + n1
    u = float(ranks[is_current == 1].sum() - n1 * (n1 + 1) / 2)
    _, ties = np.unique(scores, return_counts=True)
    tie_term = float(np.sum(ties.astype(np.float64) ** 3 - ties)) / (n * (n - 1))
    variance = n0 * n1 / 12 * ((n + 1) - tie_term)
    return u, n0 * n1, variance


def _encode(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str],
) -> NDArray[np.float64]:
    """Numeric columns as floats (NaN kept: the model routes missing values itself), categorical
    columns as codes of their most frequent categories over both sides."""
    both = pd.concat([reference, current], ignore_index=True)
    columns = [both[name].to_numpy(dtype=np.float64, na_value=np.nan) for name in numeric]
    for name in categorical:
        values = both[name]
        top = values.value_counts().index[:MAX_CATEGORIES]
        codes = pd.Categorical(values, categories=top).codes.astype(np.float64)
        rare = (codes == -1) & values.notna().to_numpy()
        codes[rare] = len(top)
        codes[values.isna().to_numpy()] = np.nan
        columns.append(codes)
    return np.column_stack(columns)


def _categorical_mask(n_numeric: int, n_categorical: int) -> NDArray[np.bool_] | None:
    if n_categorical == 0:
        return None
    return np.array([False] * n_numeric + [True] * n_categorical)
