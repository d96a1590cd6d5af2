"""Bad input to a drift check: each a DataError naming the feature and the problem."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data.drift.detect import detect_drift, performance_drift
from data.drift.profile import ReferenceProfile
from data.errors import (
    AllMissingError,
    ConfigError,
    DataError,
    DtypeError,
    EmptyDataError,
    MissingColumnError,
)


@pytest.fixture
def reference() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "age": rng.normal(40, 10, 300),
            "income": rng.lognormal(10, 1, 300),
            "city": rng.choice(["Oslo", "Lima"], 300),
        }
    )


def test_a_feature_missing_from_the_batch(reference: pd.DataFrame) -> None:
    with pytest.raises(MissingColumnError, match="'income'.*missing from the current batch"):
        detect_drift(reference, reference.drop(columns="income"))


def test_a_numeric_feature_arriving_as_text(reference: pd.DataFrame) -> None:
    current = reference.astype({"age": str})
    current.loc[3, "age"] = "forty"
    with pytest.raises(
        DtypeError, match="'age'.*numeric in the reference but arrived as string.*, e.g. 'forty'"
    ):
        detect_drift(reference, current)


def test_numbers_that_lost_their_dtype_are_still_numbers(reference: pd.DataFrame) -> None:
    current = reference.astype({"age": object})
    report = detect_drift(reference, current)
    assert report.feature("age").statistic == 0.0


def test_an_empty_batch(reference: pd.DataFrame) -> None:
    with pytest.raises(EmptyDataError, match="current batch has no rows"):
        detect_drift(reference, reference.iloc[:0])


def test_an_empty_reference(reference: pd.DataFrame) -> None:
    with pytest.raises(EmptyDataError, match="reference has no rows"):
        detect_drift(reference.iloc[:0], reference)


def test_an_all_missing_column(reference: pd.DataFrame) -> None:
    current = reference.copy()
    current["city"] = None
    with pytest.raises(AllMissingError, match="'city'.*no values in the current batch"):
        detect_drift(reference, current)


def test_a_feature_the_profile_does_not_hold(reference: pd.DataFrame) -> None:
    profile = ReferenceProfile.from_frame(reference, features=["age", "city"])
    with pytest.raises(MissingColumnError, match="'income'.*not in the reference profile"):
        detect_drift(profile, reference, features=["age", "income"])


def test_a_label_other_than_the_profiles(reference: pd.DataFrame) -> None:
    profile = ReferenceProfile.from_frame(reference, features=["age", "income"], label="city")
    with pytest.raises(ConfigError, match="differs from the profile's label 'city'"):
        detect_drift(profile, reference, label="income")


def test_text_that_is_not_a_profile() -> None:
    with pytest.raises(DataError, match="not a driftune reference profile"):
        ReferenceProfile.from_json('{"format": "something else"}')


@pytest.mark.parametrize(
    "settings",
    [{"alpha": 0.0}, {"correction": "sidak"}, {"min_effect": -1}, {"max_rows": 1}, {"seed": -1}],
)
def test_bad_settings_are_config_errors(reference: pd.DataFrame, settings: dict) -> None:
    with pytest.raises(ConfigError):
        detect_drift(reference, reference, **settings)


def test_performance_drop_is_detected() -> None:
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 2, 2000)
    predicted = np.where(rng.random(2000) < 0.80, truth, 1 - truth)  # ~80% against 90%
    result = performance_drift(truth, predicted, baseline_accuracy=0.9, n_baseline=1500)
    assert result.drifted and result.p_value < 1e-6
    assert result.drop == pytest.approx(0.9 - result.accuracy)


def test_same_accuracy_is_not_a_drop() -> None:
    rng = np.random.default_rng(2)
    truth = rng.integers(0, 3, 1000)
    predicted = np.where(rng.random(1000) < 0.9, truth, (truth + 1) % 3)
    result = performance_drift(truth, predicted, baseline_accuracy=0.9, n_baseline=1000)
    assert not result.drifted and result.p_value > 0.05


def test_a_small_drop_on_few_rows_is_not_significant() -> None:
    truth = np.array(["a", "b"] * 10)
    predicted = truth.copy()
    predicted[:3] = "c"  # 85% on 20 rows against 90% on 500
    result = performance_drift(truth, predicted, baseline_accuracy=0.9, n_baseline=500)
    assert result.accuracy == pytest.approx(0.85) and not result.drifted


def test_performance_inputs_are_checked() -> None:
    with pytest.raises(DataError, match="3 labels but y_pred has 2"):
        performance_drift([1, 0, 1], [1, 0], 0.9, 100)
    with pytest.raises(EmptyDataError):
        performance_drift([None, None], [1, 0], 0.9, 100)
    with pytest.raises(ConfigError):
        performance_drift([1], [1], 1.5, 100)
