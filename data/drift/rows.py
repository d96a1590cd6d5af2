"""One FeatureDrift row per test, from the two sides' summaries (uncorrected, not yet decided)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from data.drift.profile import ReferenceProfile
from data.drift.report import EFFECTS, Distribution, FeatureDrift
from data.drift.stats import FloatArray, compare_counts, compare_missing, compare_numeric

HISTOGRAM_BINS = 20
# The plot's range: the pooled 0.5% to 99.5% quantiles, so one outlier does not flatten the rest.
PLOT_TAIL = 0.005
TOP_CATEGORIES = 12


def numeric_rows(
    profile: ReferenceProfile, batch: ReferenceProfile, notes: list[str]
) -> list[FeatureDrift]:
    """KS test per numeric feature; effect: Wasserstein distance / reference std (and PSI)."""
    names = []
    for name in profile.features.numeric:
        if len(profile.numeric[name].values) and len(batch.numeric[name].values):
            names.append(name)
        else:
            notes.append(f"{name}: no values among the sampled rows of one side; KS skipped")
    pairs = [
        (profile.numeric[n].values, batch.numeric[n].values, profile.numeric[n].edges)
        for n in names
    ]
    rows = []
    for name, (ref, cur, _), result in zip(names, pairs, compare_numeric(pairs), strict=True):
        rows.append(
            _row(
                name,
                "numeric",
                "ks",
                result.ks_statistic,
                result.p_value,
                result.wasserstein_std,
                details={
                    "psi": result.psi,
                    "wasserstein_std": result.wasserstein_std,
                    "n_reference": len(ref),
                    "n_current": len(cur),
                },
                distribution=_histogram(ref, cur),
            )
        )
    return rows


def categorical_rows(profile: ReferenceProfile, batch: ReferenceProfile) -> list[FeatureDrift]:
    """Chi-square per categorical feature over the union of categories; effect: PSI."""
    rows = []
    for name in profile.features.categorical:
        ref, cur = profile.categorical[name].counts, batch.categorical[name].counts
        result = compare_counts(ref, cur)
        details = {
            "n_reference": sum(ref.values()),
            "n_current": sum(cur.values()),
            "new_categories": sum(1 for c in cur if c not in ref),
        }
        rows.append(
            _row(
                name,
                "categorical",
                "chi2",
                result.statistic,
                result.p_value,
                result.effect,
                details=details,
                distribution=_shares(ref, cur),
            )
        )
    return rows


def missing_rows(profile: ReferenceProfile, batch: ReferenceProfile) -> list[FeatureDrift]:
    """Fisher's exact test of the missing-value rate, for features with missing values anywhere.

    Without a missing value on either side the test is empty (p = 1), so it stays out of the
    family rather than diluting the correction; leaving it out depends only on the pooled count,
    which the exact test conditions on anyway.
    """
    rows = []
    for name in profile.features.all:
        ref_missing, cur_missing = _missing(profile, name), _missing(batch, name)
        if ref_missing + cur_missing == 0:
            continue
        result = compare_missing(ref_missing, profile.n_sampled, cur_missing, batch.n_sampled)
        details = {
            "reference_rate": ref_missing / profile.n_sampled,
            "current_rate": cur_missing / batch.n_sampled,
        }
        rows.append(
            _row(
                name, "missing", "fisher", result.statistic, result.p_value, result.effect, details
            )
        )
    return rows


def label_row(profile: ReferenceProfile, batch: ReferenceProfile) -> FeatureDrift | None:
    """Chi-square on the label's class counts when both sides carry labels; effect: PSI."""
    if profile.label is None or profile.label_counts is None or batch.label_counts is None:
        return None
    result = compare_counts(profile.label_counts, batch.label_counts)
    details = {
        "n_reference": sum(profile.label_counts.values()),
        "n_current": sum(batch.label_counts.values()),
    }
    return _row(
        profile.label,
        "label",
        "chi2",
        result.statistic,
        result.p_value,
        result.effect,
        details=details,
        distribution=_shares(profile.label_counts, batch.label_counts),
    )


def _row(
    feature: str,
    kind: str,
    test: str,
    statistic: float,
    p_value: float,
    effect: float,
    details: Mapping[str, float],
    distribution: Distribution | None = None,
) -> FeatureDrift:
    return FeatureDrift(
        feature=feature,
        kind=kind,
        test=test,
        statistic=float(statistic),
        p_value=float(p_value),
        p_corrected=float(p_value),
        effect=float(effect),
        effect_name=EFFECTS[kind],
        drifted=False,
        details={k: float(v) for k, v in details.items()},
        distribution=distribution,
    )


def _missing(side: ReferenceProfile, name: str) -> int:
    if name in side.numeric:
        return side.numeric[name].n_missing
    return side.categorical[name].n_missing


def _histogram(ref: FloatArray, cur: FloatArray) -> Distribution:
    """Shares of each sorted sample in equal-width bins over the pooled central range."""
    low = min(_quantile(ref, PLOT_TAIL), _quantile(cur, PLOT_TAIL))
    high = max(_quantile(ref, 1 - PLOT_TAIL), _quantile(cur, 1 - PLOT_TAIL))
    if not high > low:
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, HISTOGRAM_BINS + 1)

    def shares(values: FloatArray) -> tuple[float, ...]:
        # The outer bins take the tails beyond the plotted range.
        inner = np.searchsorted(values, edges[1:-1], side="right")
        counts = np.diff(np.concatenate(([0], inner, [len(values)])))
        return tuple(float(c) / len(values) for c in counts)

    bins = tuple(f"{a:.3g}..{b:.3g}" for a, b in zip(edges[:-1], edges[1:], strict=True))
    return Distribution(bins, shares(ref), shares(cur), tuple(float(e) for e in edges))


def _quantile(sorted_values: FloatArray, q: float) -> float:
    return float(sorted_values[int(q * (len(sorted_values) - 1))])


def _shares(reference: Mapping[str, int], current: Mapping[str, int]) -> Distribution:
    """Shares of the most prominent categories on either side; the rest as "(other)"."""
    n_ref, n_cur = max(sum(reference.values()), 1), max(sum(current.values()), 1)
    categories = list(dict.fromkeys([*reference, *current]))
    categories.sort(key=lambda c: -max(reference.get(c, 0) / n_ref, current.get(c, 0) / n_cur))
    shown, rest = categories[:TOP_CATEGORIES], categories[TOP_CATEGORIES:]
    ref = [reference.get(c, 0) / n_ref for c in shown]
    cur = [current.get(c, 0) / n_cur for c in shown]
    if rest:
        shown.append("(other)")
        ref.append(sum(reference.get(c, 0) for c in rest) / n_ref)
        cur.append(sum(current.get(c, 0) for c in rest) / n_cur)
    return Distribution(tuple(shown), tuple(ref), tuple(cur))
