"""The statistics behind drift checks, against scipy and against their definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from data.drift.stats import (
    KS_EXACT_MAX_N,
    adjust_p_values,
    bin_counts,
    compare_counts,
    compare_missing,
    compare_numeric,
    decile_edges,
    psi,
)
from data.errors import ConfigError

SIZES = [(7, 5), (200, 200), (333, 1000), (KS_EXACT_MAX_N, 40), (KS_EXACT_MAX_N + 1, 900)]
SIZES += [(20_000, 20_000), (30_000, 12_345)]


def _samples(rng: np.random.Generator, n1: int, n2: int, ties: bool) -> tuple[np.ndarray, ...]:
    shift, scale = rng.normal(0, 0.1), rng.uniform(0.9, 1.1)
    ref, cur = rng.normal(size=n1), rng.normal(shift, scale, size=n2)
    if ties:  # discrete data: equal values across and within samples
        ref, cur = np.round(ref, 1), np.round(cur, 1)
    return np.sort(ref), np.sort(cur)


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize(("n1", "n2"), SIZES)
def test_ks_matches_scipy(n1: int, n2: int, ties: bool) -> None:
    rng = np.random.default_rng([n1, n2, ties])
    pairs = [(*_samples(rng, n1, n2, ties), np.empty(0)) for _ in range(3)]
    for (ref, cur, _), result in zip(pairs, compare_numeric(pairs), strict=True):
        expected = stats.ks_2samp(ref, cur)
        assert abs(result.ks_statistic - expected.statistic) <= 1e-12
        assert abs(result.p_value - expected.pvalue) <= 1e-12


def test_wasserstein_is_scaled_by_the_reference_spread() -> None:
    rng = np.random.default_rng(1)
    ref, cur = np.sort(rng.normal(0, 2, 3000)), np.sort(rng.normal(0.5, 2, 2000))
    (result,) = compare_numeric([(ref, cur, decile_edges(ref))])
    expected = stats.wasserstein_distance(ref, cur) / np.std(ref)
    assert result.wasserstein_std == pytest.approx(expected, rel=1e-12)
    assert result.wasserstein_std == pytest.approx(0.25, abs=0.05)  # a 0.25-sigma mean shift


def test_constant_reference_falls_back_to_the_pooled_spread() -> None:
    ref, cur = np.zeros(50), np.sort(np.r_[np.zeros(25), np.ones(25)])
    (result,) = compare_numeric([(ref, cur, decile_edges(ref))])
    assert math.isfinite(result.wasserstein_std)
    assert result.wasserstein_std == pytest.approx(0.5 / np.std(np.r_[ref, cur]))


def test_psi_is_zero_for_equal_shares_and_grows_with_the_shift() -> None:
    rng = np.random.default_rng(2)
    ref = np.sort(rng.normal(size=20_000))
    edges = decile_edges(ref)
    assert len(edges) == 9
    assert np.all(bin_counts(ref, edges) == 2000)
    assert psi(bin_counts(ref, edges), bin_counts(ref, edges)) == 0.0
    shifts = [psi(bin_counts(ref, edges), bin_counts(ref + s, edges)) for s in (0.1, 0.3, 1.0)]
    assert 0 < shifts[0] < shifts[1] < shifts[2]


def test_psi_stays_finite_with_empty_bins() -> None:
    empty_bin = psi(np.array([10, 0, 10]), np.array([5, 10, 5]))
    assert math.isfinite(empty_bin) and empty_bin > 0


def test_chi_square_counts_categories_never_seen_in_the_reference() -> None:
    reference = {"a": 500, "b": 500}
    result = compare_counts(reference, {"a": 480, "b": 470, "new": 50})
    assert result.p_value < 1e-6
    expected = stats.chi2_contingency(np.array([[500, 500, 0], [480, 470, 50]]))
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-9)
    assert compare_counts({"a": 5}, {"a": 9}).p_value == 1.0
    two = compare_counts({"a": 30, "b": 70}, {"a": 45, "b": 55})
    uncorrected = stats.chi2_contingency(np.array([[30, 70], [45, 55]]), correction=False)
    assert two.p_value == pytest.approx(uncorrected.pvalue, rel=1e-9)


def test_missing_rate_uses_fisher_and_cohens_h() -> None:
    result = compare_missing(10, 1000, 60, 1000)
    assert result.statistic == pytest.approx(0.05)
    assert result.p_value == pytest.approx(stats.fisher_exact([[10, 990], [60, 940]]).pvalue)
    h = 2 * math.asin(math.sqrt(0.06)) - 2 * math.asin(math.sqrt(0.01))
    assert result.effect == pytest.approx(h)


def _holm_rejections(p: np.ndarray, alpha: float) -> set[int]:
    """Holm's step-down procedure as stated: reject while p_(k) <= alpha / (m - k)."""
    rejected: set[int] = set()
    for k, index in enumerate(np.argsort(p)):
        if p[index] > alpha / (len(p) - k):
            break
        rejected.add(int(index))
    return rejected


@pytest.mark.parametrize("seed", range(20))
def test_holm_adjusted_p_values_reject_what_the_step_down_rejects(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p = np.concatenate((rng.uniform(size=15), rng.uniform(0, 0.01, size=5)))
    holm = adjust_p_values(p, "holm")
    for alpha in (0.01, 0.05, 0.1):
        assert set(np.flatnonzero(holm <= alpha)) == _holm_rejections(p, alpha)
    bonferroni = adjust_p_values(p, "bonferroni")
    bh = adjust_p_values(p, "bh")
    assert np.all(p <= holm) and np.all(holm <= bonferroni) and np.all(bh <= holm + 1e-15)
    assert np.array_equal(adjust_p_values(p, None), p)


def test_unknown_correction_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="correction"):
        adjust_p_values([0.1], "sidak")
