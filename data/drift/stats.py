"""The statistics behind a drift check: two-sample tests, effect sizes and p-value correction.

Every function takes summaries that a ReferenceProfile can store (sorted values, counts), so a
scheduled check never needs the reference table itself.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from data.errors import ConfigError

FloatArray = NDArray[np.float64]

# scipy.stats.ks_2samp(method="auto") computes the exact distribution up to this many values per
# side and Smirnov's asymptotic one above it; following the same rule gives the same p-values.
KS_EXACT_MAX_N = 10_000
# Proportions of an empty bin or category are raised to this before the log in PSI.
PSI_EPSILON = 1e-4
PSI_QUANTILES = np.linspace(0.1, 0.9, 9)
CORRECTIONS = ("holm", "bh", "bonferroni")


@dataclass(frozen=True)
class NumericStats:
    """KS statistic and p-value, Wasserstein distance / reference std, and PSI of one feature."""

    ks_statistic: float
    p_value: float
    wasserstein_std: float
    psi: float


@dataclass(frozen=True)
class TestResult:
    """A test's statistic, p-value and the effect size compared against ``min_effect``."""

    statistic: float
    p_value: float
    effect: float


def decile_edges(sorted_values: FloatArray) -> FloatArray:
    """The reference's interior deciles, deduplicated: the edges of PSI's 10 bins."""
    return np.unique(np.quantile(sorted_values, PSI_QUANTILES))


def psi(reference_counts: NDArray[np.int64], current_counts: NDArray[np.int64]) -> float:
    """Population stability index over aligned bins or categories."""
    p_ref = np.maximum(reference_counts / max(reference_counts.sum(), 1), PSI_EPSILON)
    p_cur = np.maximum(current_counts / max(current_counts.sum(), 1), PSI_EPSILON)
    return float(np.sum((p_cur - p_ref) * np.log(p_cur / p_ref)))


def bin_counts(sorted_values: FloatArray, edges: FloatArray) -> NDArray[np.int64]:
    """Counts in the bins (-inf, e1], (e1, e2], ..., (ek, inf) of an already sorted sample."""
    inner = np.searchsorted(sorted_values, edges, side="right")
    return np.diff(np.concatenate(([0], inner, [len(sorted_values)]))).astype(np.int64)


def compare_numeric(
    pairs: Sequence[tuple[FloatArray, FloatArray, FloatArray]],
) -> list[NumericStats]:
    """KS, Wasserstein/std and PSI for each (reference sorted, current sorted, PSI edges) triple.

    Both samples arrive sorted, so one O(n) merge per feature gives both empirical CDFs on the
    pooled points, from which the KS statistic and the Wasserstein distance follow. Small samples
    take scipy's exact p-value; the asymptotic ones are evaluated in one vectorised call.
    """
    statistics = [_ks_and_wasserstein(ref, cur) for ref, cur, _ in pairs]
    p_values = np.ones(len(pairs))
    asymptotic: list[int] = []
    for i, (ref, cur, _) in enumerate(pairs):
        if max(len(ref), len(cur)) <= KS_EXACT_MAX_N:
            with warnings.catch_warnings():
                # scipy falls back to the asymptotic p-value itself when the exact one
                # overflows, and says so; the result is still scipy's, so stay quiet.
                warnings.simplefilter("ignore", RuntimeWarning)
                exact = stats.ks_2samp(ref, cur)
            statistics[i] = (float(exact.statistic), statistics[i][1])
            p_values[i] = float(exact.pvalue)
        else:
            asymptotic.append(i)
    if asymptotic:
        d = np.array([statistics[i][0] for i in asymptotic])
        en = np.array([_effective_n(len(pairs[i][0]), len(pairs[i][1])) for i in asymptotic])
        p_values[asymptotic] = np.clip(stats.kstwo.sf(d, np.round(en)), 0, 1)
    return [
        NumericStats(
            ks_statistic=statistics[i][0],
            p_value=float(p_values[i]),
            wasserstein_std=statistics[i][1] / _scale(ref, cur),
            psi=psi(bin_counts(ref, edges), bin_counts(cur, edges)),
        )
        for i, (ref, cur, edges) in enumerate(pairs)
    ]


def _ks_and_wasserstein(ref: FloatArray, cur: FloatArray) -> tuple[float, float]:
    """KS statistic and Wasserstein distance from one stable merge of two sorted samples.

    The same arithmetic as scipy's ks_2samp and wasserstein_distance, which evaluate both
    empirical CDFs at every pooled value with searchsorted: here the merge order gives the
    counts directly (a running count of reference values), read at the last copy of each
    value, where searchsorted(side="right") reads them too. The KS statistic is bit-identical.
    """
    pooled_from = np.concatenate((ref, cur))
    order = np.argsort(pooled_from, kind="stable")  # timsort: a linear merge of two sorted runs
    pooled = pooled_from[order]
    ref_count = np.cumsum(order < len(ref))
    step = np.diff(pooled)
    last = np.flatnonzero(step)  # last copy of each value but the largest (where both CDFs are 1)
    counts = ref_count[last]
    cdf_gap = counts / len(ref) - (last + 1 - counts) / len(cur)
    below = float(np.clip(-np.min(cdf_gap, initial=0.0), 0, 1))
    above = float(np.max(cdf_gap, initial=0.0))
    wasserstein = float(np.vecdot(np.abs(cdf_gap), step[last]))
    return (below if below > above else above), wasserstein


def _effective_n(n1: int, n2: int) -> float:
    m, n = sorted([float(n1), float(n2)], reverse=True)
    return m * n / (m + n)


def _scale(ref: FloatArray, cur: FloatArray) -> float:
    # A constant reference has no spread to measure against: fall back to the pooled spread, and
    # to 1 when both are constant (then any difference is the raw distance).
    sigma = float(np.std(ref))
    if sigma > 0:
        return sigma
    pooled = float(np.std(np.concatenate((ref, cur))))
    return pooled if pooled > 0 else 1.0


def compare_counts(reference: Mapping[str, int], current: Mapping[str, int]) -> TestResult:
    """Chi-square on a 2 x k table over the union of categories, with PSI as the effect size.

    A category never seen in the reference still counts: it is where a new value shows up.
    """
    categories = list(dict.fromkeys([*reference, *current]))
    ref = np.array([reference.get(c, 0) for c in categories], dtype=np.int64)
    cur = np.array([current.get(c, 0) for c in categories], dtype=np.int64)
    effect = psi(ref, cur)
    if len(categories) < 2:
        return TestResult(statistic=0.0, p_value=1.0, effect=effect)
    # Pearson's chi-square on the 2 x k table, as chi2_contingency(correction=False) computes it
    # (written out: scipy's generic n-way version costs milliseconds a call on tiny tables).
    observed = np.vstack((ref, cur)).astype(np.float64)
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / observed.sum()
    statistic = float(np.sum((observed - expected) ** 2 / expected))
    p_value = float(stats.chi2.sf(statistic, len(categories) - 1))
    return TestResult(statistic=statistic, p_value=p_value, effect=effect)


def compare_missing(
    missing_reference: int, n_reference: int, missing_current: int, n_current: int
) -> TestResult:
    """Fisher's exact test of two missing-value rates; statistic: the rate difference.

    The effect is Cohen's h, |2 asin sqrt(p2) - 2 asin sqrt(p1)|: it weighs a change from 0% to 2%
    like one from 40% to 50%, since both change how much of the column a model can use.
    """
    rate_ref = missing_reference / n_reference
    rate_cur = missing_current / n_current
    table = [
        [missing_reference, n_reference - missing_reference],
        [missing_current, n_current - missing_current],
    ]
    p_value = float(stats.fisher_exact(table).pvalue)
    effect = abs(2 * math.asin(math.sqrt(rate_cur)) - 2 * math.asin(math.sqrt(rate_ref)))
    return TestResult(statistic=rate_cur - rate_ref, p_value=min(p_value, 1.0), effect=effect)


def adjust_p_values(p_values: Sequence[float], correction: str | None) -> FloatArray:
    """Correct a family of p-values: Holm (default), Benjamini-Hochberg, Bonferroni, or none."""
    p = np.asarray(p_values, dtype=np.float64)
    if correction is None or len(p) == 0:
        return p.copy()
    if correction == "bonferroni":
        return np.minimum(p * len(p), 1.0)
    if correction == "bh":
        return np.asarray(stats.false_discovery_control(p, method="bh"), dtype=np.float64)
    if correction == "holm":
        order = np.argsort(p, kind="stable")
        stepped = np.maximum.accumulate(p[order] * (len(p) - np.arange(len(p))))
        adjusted = np.empty_like(p)
        adjusted[order] = np.minimum(stepped, 1.0)
        return adjusted
    raise ConfigError(f"correction must be one of {CORRECTIONS} or None, got {correction!r}")
