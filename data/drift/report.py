"""DriftReport: the result of a drift check, as plain data that serialises to JSON and renders."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# What each kind of test compares against min_effect, said in every report.
EFFECTS = {
    "numeric": "wasserstein/std",
    "categorical": "psi",
    "missing": "cohen_h",
    "label": "psi",
    "multivariate": "2*auc-1",
}


@dataclass(frozen=True)
class Distribution:
    """Reference and current proportions over shared bins (``edges``) or categories (``bins``)."""

    bins: tuple[str, ...]
    reference: tuple[float, ...]
    current: tuple[float, ...]
    edges: tuple[float, ...] | None = None


@dataclass(frozen=True)
class FeatureDrift:
    """One test of one feature (or of the label, or of all features together).

    ``effect`` is the effect size compared against ``min_effect`` (named by ``effect_name``);
    ``drifted`` is corrected p-value < alpha and effect >= min_effect. ``details`` holds the other
    effect sizes and sample sizes.
    """

    feature: str
    kind: str
    test: str
    statistic: float
    p_value: float
    p_corrected: float
    effect: float
    effect_name: str
    drifted: bool
    details: Mapping[str, float] = field(default_factory=dict)
    distribution: Distribution | None = None


@dataclass(frozen=True)
class SampleSizes:
    """Rows on each side, rows the tests used, and whether a side was subsampled."""

    reference_rows: int
    current_rows: int
    reference_used: int
    current_used: int
    max_rows: int | None

    @property
    def subsampled(self) -> bool:
        return self.reference_used < self.reference_rows or self.current_used < self.current_rows


@dataclass(frozen=True)
class PerformanceDrift:
    """The champion's accuracy on a labelled batch against its validation accuracy.

    ``p_value`` is Fisher's exact one-sided test that the batch accuracy is below the baseline's;
    ``drifted`` is p < alpha and a drop of at least ``min_drop``.
    """

    accuracy: float
    baseline_accuracy: float
    n: int
    n_baseline: int
    drop: float
    p_value: float
    alpha: float
    min_drop: float
    drifted: bool
    test: str = "fisher-one-sided"


@dataclass(frozen=True)
class DriftReport:
    """Per-feature tests, the multivariate and label tests, and the dataset verdict.

    The dataset drifts when any feature's distribution or missing-value test drifts or the
    multivariate test does. The label shift is tested and corrected in the same family, but is
    reported, not part of the verdict.
    """

    features: tuple[FeatureDrift, ...]
    multivariate: FeatureDrift | None
    label: FeatureDrift | None
    drifted: bool
    sizes: SampleSizes
    alpha: float
    correction: str | None
    min_effect: float
    seed: int
    notes: tuple[str, ...] = ()
    performance: PerformanceDrift | None = None
    # The batch against the champion's data contract (data.contract.InputReport.to_dict()):
    # unseen categories, missing values and out-of-range numbers per column; None without one.
    inputs: Mapping[str, Any] | None = None

    @property
    def drifted_features(self) -> tuple[str, ...]:
        """Names of the features with at least one drifted test, most drifted first."""
        rows = sorted((r for r in self.features if r.drifted), key=_severity)
        return tuple(dict.fromkeys(r.feature for r in rows))

    def feature(self, name: str, kind: str | None = None) -> FeatureDrift:
        """The distribution test of a feature (or its ``kind="missing"`` test)."""
        for row in self.features:
            if row.feature == name and (
                row.kind == kind or (kind is None and row.kind != "missing")
            ):
                return row
        raise KeyError(f"no {kind or 'distribution'} test for feature {name!r} in this report")

    def rows(self) -> list[FeatureDrift]:
        """Every test, drifted first, then by corrected p-value and effect."""
        extra = [r for r in (self.multivariate, self.label) if r is not None]
        return sorted([*self.features, *extra], key=_severity)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe data (non-finite numbers become None)."""
        safe: dict[str, Any] = _json_safe(asdict(self))
        return safe

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftReport:
        def row(item: Mapping[str, Any] | None) -> FeatureDrift | None:
            if item is None:
                return None
            dist = item.get("distribution")
            return FeatureDrift(
                **{k: _number(v) for k, v in item.items() if k != "distribution"},
                distribution=None if dist is None else _distribution(dist),
            )

        perf = data.get("performance")
        return cls(
            features=tuple(r for r in map(row, data["features"]) if r is not None),
            multivariate=row(data.get("multivariate")),
            label=row(data.get("label")),
            drifted=bool(data["drifted"]),
            sizes=SampleSizes(**data["sizes"]),
            alpha=float(data["alpha"]),
            correction=data["correction"],
            min_effect=float(data["min_effect"]),
            seed=int(data["seed"]),
            notes=tuple(data.get("notes", ())),
            performance=None if perf is None else PerformanceDrift(**perf),
            inputs=data.get("inputs"),
        )

    def to_frame(self) -> pd.DataFrame:
        """One row per test, drifted first."""
        columns = ["feature", "kind", "test", "statistic", "p_value", "p_corrected"]
        columns += ["effect", "effect_name", "drifted"]
        records = [{c: getattr(r, c) for c in columns} for r in self.rows()]
        return pd.DataFrame.from_records(records, columns=columns)

    def summary(self) -> str:
        """A plain-text table of every test, drifted first, under the verdict and the settings."""
        from data.drift.text import render_summary

        return render_summary(self)

    def markdown(self) -> str:
        """The same as a markdown table, verdict columns first (the UIs' descriptions)."""
        from data.drift.text import render_markdown

        return render_markdown(self)

    def plot(self, path: str | Path, *, top: int = 4) -> Path:
        """Save a figure: effect sizes against the threshold, and the ``top`` most drifted
        features' reference and current distributions. Returns the path written."""
        from data.drift.plot import plot_report

        return plot_report(self, Path(path), top=top)


def _severity(row: FeatureDrift) -> tuple[bool, float, float]:
    return (not row.drifted, row.p_corrected, -row.effect)


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | np.integer):
        return int(value)
    number = float(value)
    return number if math.isfinite(number) else None


def _number(value: Any) -> Any:
    # None stood for a non-finite float in to_dict; lists come back as tuples, dicts as dicts.
    if value is None:
        return math.nan
    if isinstance(value, list):
        return tuple(value)
    if isinstance(value, dict):
        return {k: math.nan if v is None else v for k, v in value.items()}
    return value


def _distribution(data: Mapping[str, Any]) -> Distribution:
    edges = data.get("edges")
    return Distribution(
        bins=tuple(data["bins"]),
        reference=tuple(math.nan if v is None else float(v) for v in data["reference"]),
        current=tuple(math.nan if v is None else float(v) for v in data["current"]),
        edges=None if edges is None else tuple(float(v) for v in edges),
    )
