"""Drift detection: is the newest batch still like the data the champion was trained on?

``detect_drift`` runs one test per feature (KS for numeric, chi-square for categorical), one per
changed missing-value rate, one for the label distribution and one multivariate domain-classifier
test, corrects all their p-values together, and calls a feature drifted only when its corrected
p-value is below alpha *and* its effect size reaches ``min_effect``: with a million rows a test
flags shifts far too small to be worth a retune. ``performance_drift`` tests whether the
champion's accuracy on a labelled batch dropped below its validation accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pandas as pd
from scipy import stats

from data.drift.domain import domain_classifier_test
from data.drift.profile import (
    CURRENT_STREAM,
    DEFAULT_DOMAIN_ROWS,
    DEFAULT_MAX_ROWS,
    ReferenceProfile,
    summarise,
)
from data.drift.report import EFFECTS, DriftReport, FeatureDrift, PerformanceDrift, SampleSizes
from data.drift.rows import categorical_rows, label_row, missing_rows, numeric_rows
from data.drift.stats import CORRECTIONS, adjust_p_values
from data.errors import ConfigError, DataError, EmptyDataError
from data.schema import FeatureSet

MULTIVARIATE = "(all features)"


def detect_drift(
    reference: pd.DataFrame | ReferenceProfile,
    current: pd.DataFrame,
    features: FeatureSet | Sequence[str] | None = None,
    *,
    label: str | None = None,
    alpha: float = 0.05,
    correction: str | None = "holm",
    min_effect: float = 0.1,
    seed: int = 0,
    max_rows: int | None = DEFAULT_MAX_ROWS,
    multivariate: bool = True,
) -> DriftReport:
    """Compare a batch with the reference (a frame, or its ReferenceProfile) feature by feature.

    ``features`` defaults to the profile's, or to every reference column but ``label`` and
    datetime columns. ``correction`` is "holm" (family-wise error), "bh" (false discovery rate),
    "bonferroni" or None. Above ``max_rows`` rows each side is subsampled with ``seed``; a profile
    keeps the sample it was built with. Effects compared with ``min_effect``: Wasserstein distance
    / reference std (numeric), PSI (categorical, label), Cohen's h (missing rate), 2 * AUC - 1
    (multivariate).
    """
    _check_settings(alpha, correction, min_effect, max_rows, seed)
    profile = _as_profile(reference, features, label, seed, max_rows)
    batch = _summarise_batch(current, profile, seed, max_rows)
    notes: list[str] = []
    rows = numeric_rows(profile, batch, notes) + categorical_rows(profile, batch)
    rows += missing_rows(profile, batch)
    label_test = label_row(profile, batch)
    domain = _multivariate_row(profile, batch, seed, notes) if multivariate else None
    decided = _decide([*rows, label_test, domain], correction, alpha, min_effect)
    features_out = tuple(r for r in decided[: len(rows)] if r is not None)
    label_out, domain_out = decided[len(rows) :]
    return DriftReport(
        features=features_out,
        multivariate=domain_out,
        label=label_out,
        drifted=any(r.drifted for r in features_out) or bool(domain_out and domain_out.drifted),
        sizes=SampleSizes(
            profile.n_rows, batch.n_rows, profile.n_sampled, batch.n_sampled, max_rows
        ),
        alpha=alpha,
        correction=correction,
        min_effect=min_effect,
        seed=seed,
        notes=tuple(_standard_notes(profile, batch, seed) + notes),
    )


def _summarise_batch(
    current: pd.DataFrame, profile: ReferenceProfile, seed: int, max_rows: int | None
) -> ReferenceProfile:
    """The batch summarised as the reference was: its features, its own seeded sample."""
    return summarise(
        current,
        profile.features,
        profile.label,
        side="current batch",
        rng=np.random.default_rng([seed, CURRENT_STREAM]),
        seed=seed,
        max_rows=max_rows,
        domain_rows=DEFAULT_DOMAIN_ROWS,
    )


def _as_profile(
    reference: pd.DataFrame | ReferenceProfile,
    features: FeatureSet | Sequence[str] | None,
    label: str | None,
    seed: int,
    max_rows: int | None,
) -> ReferenceProfile:
    """The reference as a profile: built from a frame exactly as ``from_frame`` would."""
    if not isinstance(reference, ReferenceProfile):
        return ReferenceProfile.from_frame(
            reference, features=features, label=label, seed=seed, max_rows=max_rows
        )
    if label is not None and label != reference.label:
        raise ConfigError(
            f"label {label!r} differs from the profile's label {reference.label!r}; "
            "a profile carries its own label"
        )
    if features is None:
        return reference
    return reference.restrict(features.all if isinstance(features, FeatureSet) else features)


def _decide(
    tests: list[FeatureDrift | None], correction: str | None, alpha: float, min_effect: float
) -> list[FeatureDrift | None]:
    """Correct every p-value together, then drifted = corrected p < alpha and effect is big
    enough. Tests that did not run (None) stay None."""
    ran = [t for t in tests if t is not None]
    corrected = iter(adjust_p_values([t.p_value for t in ran], correction))
    decided: list[FeatureDrift | None] = []
    for test in tests:
        if test is None:
            decided.append(None)
            continue
        p = float(next(corrected))
        decided.append(
            replace(test, p_corrected=p, drifted=p < alpha and test.effect >= min_effect)
        )
    return decided


def _check_settings(
    alpha: float, correction: str | None, min_effect: float, max_rows: int | None, seed: int
) -> None:
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha must lie between 0 and 1, got {alpha}")
    if correction is not None and correction not in CORRECTIONS:
        raise ConfigError(f"correction must be one of {CORRECTIONS} or None, got {correction!r}")
    if not min_effect >= 0:
        raise ConfigError(f"min_effect must be zero or more, got {min_effect}")
    if max_rows is not None and max_rows < 2:
        raise ConfigError(f"max_rows must be at least 2 (or None for no cap), got {max_rows}")
    if seed < 0:
        raise ConfigError(f"seed must be zero or more, got {seed}")


def _multivariate_row(
    profile: ReferenceProfile, batch: ReferenceProfile, seed: int, notes: list[str]
) -> FeatureDrift | None:
    features = profile.features
    if len(features.all) < 2:
        notes.append("multivariate test skipped: it needs at least two features")
        return None
    result = domain_classifier_test(
        profile.domain_rows, batch.domain_rows, features.numeric, features.categorical, seed=seed
    )
    if result is None:
        notes.append("multivariate test skipped: too few rows on one side to hold half out")
        return None
    return FeatureDrift(
        feature=MULTIVARIATE,
        kind="multivariate",
        test="domain-classifier",
        statistic=result.auc,
        p_value=result.p_value,
        p_corrected=result.p_value,
        effect=2 * result.auc - 1,
        effect_name=EFFECTS["multivariate"],
        drifted=False,
        details={
            "auc": result.auc,
            "z": result.z,
            "n_reference": result.n_reference,
            "n_current": result.n_current,
            "n_held_out": result.n_held_out,
        },
    )


def _standard_notes(profile: ReferenceProfile, batch: ReferenceProfile, seed: int) -> list[str]:
    notes = []
    for name, side in (("reference", profile), ("current batch", batch)):
        if side.subsampled:
            notes.append(
                f"{name} subsampled from {side.n_rows:,} to {side.n_sampled:,} rows "
                f"(seed {side.seed if name == 'reference' else seed}, max_rows {side.max_rows:,})"
            )
    effects = ", ".join(f"{kind} {effect}" for kind, effect in EFFECTS.items())
    notes.append(f"effect compared with min_effect: {effects}")
    notes.append("the label shift is tested in the same family but does not set the verdict")
    return notes


def performance_drift(
    y_true: Sequence[object] | np.ndarray | pd.Series,
    y_pred: Sequence[object] | np.ndarray | pd.Series,
    baseline_accuracy: float,
    n_baseline: int,
    *,
    alpha: float = 0.05,
    min_drop: float = 0.01,
) -> PerformanceDrift:
    """Has accuracy on a labelled batch dropped below the recorded validation accuracy?

    Fisher's exact one-sided test on correct / wrong counts of the batch against the baseline's
    (``baseline_accuracy`` over ``n_baseline`` validation rows). Rows without a true label are
    left out. Drifted: p < alpha and a drop of at least ``min_drop`` (accuracy points).
    """
    truth = np.asarray(y_true, dtype=object)
    predicted = np.asarray(y_pred, dtype=object)
    if truth.shape != predicted.shape:
        raise DataError(f"y_true has {len(truth)} labels but y_pred has {len(predicted)}")
    labelled = ~pd.isna(truth)
    if not labelled.any():
        raise EmptyDataError("no labelled rows to measure the accuracy on")
    if not 0 <= baseline_accuracy <= 1 or n_baseline < 1:
        raise ConfigError(
            f"baseline accuracy must lie in [0, 1] over at least one row, "
            f"got {baseline_accuracy} over {n_baseline}"
        )
    n = int(labelled.sum())
    correct = int(np.sum(truth[labelled] == predicted[labelled]))
    baseline_correct = round(baseline_accuracy * n_baseline)
    table = [[correct, n - correct], [baseline_correct, n_baseline - baseline_correct]]
    p_value = float(stats.fisher_exact(table, alternative="less").pvalue)
    drop = baseline_accuracy - correct / n
    return PerformanceDrift(
        accuracy=correct / n,
        baseline_accuracy=baseline_accuracy,
        n=n,
        n_baseline=n_baseline,
        drop=drop,
        p_value=min(p_value, 1.0),
        alpha=alpha,
        min_drop=min_drop,
        drifted=p_value < alpha and drop >= min_drop,
    )
