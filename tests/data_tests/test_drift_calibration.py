"""Calibration over many seeds: false alarms stay at alpha, real shifts are found.

These run detect_drift a few hundred times (about a minute together), so they are marked slow.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data.drift.detect import detect_drift

SPLITS = 200
POWER_SEEDS = 100


def _mixed_table(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """20 features like real data: normal, skewed, counts, gappy numeric, categorical."""
    columns: dict[str, np.ndarray] = {}
    for i in range(8):
        columns[f"normal_{i}"] = rng.normal(size=n)
    for i in range(4):
        columns[f"skewed_{i}"] = rng.lognormal(size=n)
    for i in range(2):
        columns[f"count_{i}"] = rng.poisson(3, size=n).astype(float)
    columns["gappy_0"] = np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n))
    columns["gappy_1"] = np.where(rng.random(n) < 0.02, np.nan, rng.exponential(size=n))
    for i in range(3):
        columns[f"cat_{i}"] = rng.choice(list("abcde"), size=n, p=[0.4, 0.3, 0.15, 0.1, 0.05])
    gappy = rng.choice(["x", "y", "z"], size=n).astype(object)
    gappy[rng.random(n) < 0.05] = None
    columns["cat_gappy"] = gappy
    return pd.DataFrame(columns)


@pytest.mark.slow
def test_random_halves_rarely_alarm_and_would_without_the_correction() -> None:
    table = _mixed_table(2000, np.random.default_rng(2024))
    assert table.shape[1] == 20
    holm_alarms = uncorrected_alarms = 0
    for split in range(SPLITS):
        order = np.random.default_rng(split).permutation(len(table))
        first, second = table.iloc[order[:1000]], table.iloc[order[1000:]]
        holm_alarms += detect_drift(first, second, seed=split).drifted
        # Without the multivariate test, fewer tests could alarm: a conservative comparison.
        uncorrected = detect_drift(first, second, correction=None, seed=split, multivariate=False)
        uncorrected_alarms += uncorrected.drifted
    assert holm_alarms / SPLITS <= 0.05
    assert uncorrected_alarms / SPLITS > 0.05


@pytest.mark.slow
def test_a_small_mean_shift_in_one_of_twenty_features_is_found() -> None:
    detected = 0
    for seed in range(POWER_SEEDS):
        rng = np.random.default_rng(seed)
        reference = pd.DataFrame(rng.normal(size=(5000, 20))).add_prefix("x")
        current = pd.DataFrame(rng.normal(size=(5000, 20))).add_prefix("x")
        current["x7"] += 0.3
        report = detect_drift(reference, current, seed=seed)
        detected += report.feature("x7").drifted and report.drifted
    assert detected / POWER_SEEDS >= 0.95
