"""detect_drift end to end: what it flags, what it leaves alone, and how it reports."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from data import DatasetSpec, load, sample_path
from data.drift.detect import detect_drift, performance_drift
from data.drift.profile import ReferenceProfile


def _normal_table(rng: np.random.Generator, n: int, columns: int = 5) -> pd.DataFrame:
    return pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(columns)})


def _seattle() -> tuple[DatasetSpec, pd.DataFrame]:
    spec = DatasetSpec(path=sample_path("seattle-weather.csv"), label="weather", time="date")
    return spec, load(spec)


def test_a_change_in_one_category_frequency_is_detected() -> None:
    rng = np.random.default_rng(3)
    reference = _normal_table(rng, 3000, columns=3)
    current = _normal_table(rng, 3000, columns=3)
    # red drops from half the rows to 30%; the others keep their ratio to each other
    reference["colour"] = rng.choice(["red", "green", "blue"], 3000, p=[0.5, 0.3, 0.2])
    current["colour"] = rng.choice(["red", "green", "blue"], 3000, p=[0.3, 0.42, 0.28])
    report = detect_drift(reference, current)
    colour = report.feature("colour")
    assert (colour.kind, colour.test, colour.effect_name) == ("categorical", "chi2", "psi")
    assert colour.drifted and report.drifted
    assert report.drifted_features == ("colour",)


def test_a_correlation_flip_is_caught_only_by_the_multivariate_test() -> None:
    rng = np.random.default_rng(4)
    n, rho = 3000, 0.8
    covariance = {sign: [[1, sign * rho], [sign * rho, 1]] for sign in (1, -1)}
    reference = _normal_table(rng, n, columns=4)
    current = _normal_table(rng, n, columns=4)
    reference[["a", "b"]] = rng.multivariate_normal([0, 0], covariance[1], size=n)
    current[["a", "b"]] = rng.multivariate_normal([0, 0], covariance[-1], size=n)
    report = detect_drift(reference, current, seed=1)
    assert not any(row.drifted for row in report.features)
    assert report.multivariate is not None and report.multivariate.drifted
    assert report.multivariate.statistic > 0.7  # the held-out AUC
    assert report.drifted and report.drifted_features == ()


def test_seattle_2012_against_2014_drifts() -> None:
    spec, frame = _seattle()
    year = frame["date"].dt.year
    report = detect_drift(frame[year == 2012], frame[year == 2014], label=spec.label)
    assert report.drifted
    assert {"temp_min", "temp_max"} <= set(report.drifted_features)
    assert report.label is not None and report.label.drifted  # fog 5 -> 151 days, rain 191 -> 3


def test_seattle_2012_against_itself_shuffled_does_not_drift() -> None:
    spec, frame = _seattle()
    days = frame[frame["date"].dt.year == 2012]
    shuffled = days.iloc[np.random.default_rng(5).permutation(len(days))]
    half = len(shuffled) // 2
    report = detect_drift(shuffled.iloc[:half], shuffled.iloc[half:], label=spec.label)
    assert not report.drifted
    assert report.label is not None and not report.label.drifted


def test_a_negligible_shift_in_a_huge_sample_is_significant_but_not_drift() -> None:
    rng = np.random.default_rng(6)
    reference = _normal_table(rng, 50_000, columns=2)
    current = _normal_table(rng, 50_000, columns=2)
    current["x0"] += 0.04  # 0.04 standard deviations
    report = detect_drift(reference, current, multivariate=False)
    x0 = report.feature("x0")
    assert x0.p_corrected < 0.05 and x0.effect < 0.1 and not x0.drifted
    assert not report.drifted
    strict = detect_drift(reference, current, multivariate=False, min_effect=0.0)
    assert strict.feature("x0").drifted


def test_missing_values_appearing_are_flagged_on_their_own_row() -> None:
    rng = np.random.default_rng(7)
    reference, current = _normal_table(rng, 2000), _normal_table(rng, 2000)
    current.loc[rng.random(2000) < 0.2, "x1"] = np.nan
    report = detect_drift(reference, current)
    missing = report.feature("x1", kind="missing")
    assert missing.test == "fisher" and missing.drifted
    assert missing.statistic == pytest.approx(missing.details["current_rate"])
    assert not report.feature("x1").drifted  # the values that are there did not move
    assert report.drifted_features == ("x1",)
    assert [r.feature for r in report.features if r.kind == "missing"] == ["x1"]


def test_above_max_rows_both_sides_are_subsampled_and_the_report_says_so() -> None:
    rng = np.random.default_rng(8)
    reference, current = _normal_table(rng, 3000), _normal_table(rng, 2500)
    report = detect_drift(reference, current, max_rows=1000)
    assert report.sizes.reference_rows == 3000 and report.sizes.reference_used == 1000
    assert report.sizes.current_rows == 2500 and report.sizes.current_used == 1000
    assert report.sizes.subsampled
    assert sum("subsampled" in note for note in report.notes) == 2
    assert report.feature("x0").details["n_current"] == 1000
    again = detect_drift(reference, current, max_rows=1000)
    assert again.to_dict() == report.to_dict()  # seeded
    other = detect_drift(reference, current, max_rows=1000, seed=1)
    assert other.feature("x0").statistic != report.feature("x0").statistic


@pytest.mark.parametrize("max_rows", [None, 500])
def test_a_profile_gives_the_same_report_as_its_frame_and_survives_json(
    max_rows: int | None,
) -> None:
    spec, frame = _seattle()
    year = frame["date"].dt.year
    reference, current = frame[year <= 2013], frame[year == 2014].copy()
    current.loc[current.index[::7], "wind"] = np.nan
    profile = ReferenceProfile.from_frame(reference, spec, seed=3, max_rows=max_rows)
    restored = ReferenceProfile.from_json(profile.to_json())
    direct = detect_drift(reference, current, label=spec.label, seed=3, max_rows=max_rows)
    via_profile = detect_drift(profile, current, seed=3, max_rows=max_rows)
    via_json = detect_drift(restored, current, seed=3, max_rows=max_rows)
    assert via_profile.to_dict() == direct.to_dict()
    assert via_json.to_dict() == direct.to_dict()
    assert np.array_equal(restored.numeric["wind"].values, profile.numeric["wind"].values)
    assert restored.label_counts == profile.label_counts


def test_report_round_trips_through_json() -> None:
    rng = np.random.default_rng(9)
    reference, current = _normal_table(rng, 800), _normal_table(rng, 800)
    reference["kind"] = rng.choice(["a", "b"], 800)
    current["kind"] = rng.choice(["a", "b", "c"], 800)
    reference["y"], current["y"] = rng.integers(0, 2, 800), rng.integers(0, 3, 800)
    report = detect_drift(reference, current, label="y")
    performance = performance_drift(current["y"], reference["y"], 0.9, n_baseline=400)
    report = dataclasses.replace(report, performance=performance)
    text = json.dumps(report.to_dict(), allow_nan=False)
    restored = type(report).from_dict(json.loads(text))
    assert restored == report
    assert restored.feature("kind").details["new_categories"] == 1.0
    assert restored.performance == performance and "accuracy" in restored.summary()


def test_summary_lists_drifted_features_first() -> None:
    rng = np.random.default_rng(10)
    reference, current = _normal_table(rng, 2000), _normal_table(rng, 2000)
    current["x3"] = current["x3"] * 2 + 1
    summary = detect_drift(reference, current).summary()
    assert isinstance(summary, str) and "DRIFTED" in summary.splitlines()[0]
    table = summary.split("\n\n")[1].splitlines()
    flags = [line.split()[-1] for line in table[2:]]
    assert table[2].split()[0] == "x3"
    assert flags == sorted(flags, key=lambda flag: flag != "YES") and flags[-1] == "no"
    assert len(flags) == 6  # five KS tests and the multivariate test


def test_markdown_is_a_table_with_the_verdict_column_beside_the_feature() -> None:
    rng = np.random.default_rng(10)
    reference, current = _normal_table(rng, 2000), _normal_table(rng, 2000)
    current["x3"] = current["x3"] * 2 + 1
    reference["a|b"] = current["a|b"] = "same"  # a pipe in a name must not split its row
    rows = [
        line for line in detect_drift(reference, current).markdown().splitlines() if line[:1] == "|"
    ]
    header, rule, body = rows[0], rows[1], rows[2:]
    assert header.startswith("| feature | drifted | p-corrected |") and set(rule) <= set("|-")
    cells = [[c.strip() for c in line.strip("|").split(" | ")] for line in body]
    assert cells[0][:2] == ["x3", "**YES**"]
    assert all(len(row) == 8 for row in cells)
    assert ["a\\|b", "no"] in [row[:2] for row in cells]


def test_summary_heads_with_the_data_verdict_and_the_accuracy_verdict_apart() -> None:
    rng = np.random.default_rng(12)
    reference, current = _normal_table(rng, 600), _normal_table(rng, 600)
    truth = rng.integers(0, 2, 300)
    dropped = performance_drift(truth, 1 - truth, 0.9, n_baseline=300)
    report = dataclasses.replace(detect_drift(reference, current), performance=dropped)
    first = report.summary().splitlines()[0]
    assert first.startswith("Data drift: none") and first.endswith("accuracy: DROPPED")


def test_plot_writes_an_image(tmp_path: pytest.TempPathFactory) -> None:
    rng = np.random.default_rng(11)
    reference, current = _normal_table(rng, 500), _normal_table(rng, 500)
    reference["c"], current["c"] = rng.choice(list("abc"), 500), rng.choice(list("abd"), 500)
    current["x0"] += 1
    path = detect_drift(reference, current).plot(tmp_path / "drift.png")  # type: ignore[operator]
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
