"""A fitted preprocessor as plain numbers and labels: what a logged model stores and scores with.

``make_preprocessor`` (data/preprocessing.py) fits scikit-learn's median imputation and standard
scaling for numeric features and most-frequent imputation and one-hot encoding for categorical
ones. Once fitted, all of that is a handful of numbers per column: ``FeatureEncoding`` keeps them
and applies them with numpy, giving the ColumnTransformer's output exactly. Written by hand
because no library stores a fitted scikit-learn transformer as data: pickles and skops files
name types to instantiate (and skops takes seconds to import, enumerating scikit-learn's
estimators); a JSON of numbers and labels instantiates nothing and reads in milliseconds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from data.schema import FeatureSet

Label = str | int | float | bool
_KEYS = frozenset({"numeric", "categorical"})
_NUMERIC_KEYS = frozenset({"column", "median", "mean", "scale"})
_CATEGORICAL_KEYS = frozenset({"column", "fill", "categories"})


@dataclass(frozen=True)
class NumericColumn:
    column: str
    median: float
    mean: float
    scale: float


@dataclass(frozen=True)
class CategoricalColumn:
    column: str
    fill: Label
    categories: tuple[Label, ...]


@dataclass(frozen=True)
class FeatureEncoding:
    """The fitted preprocessing, column by column: numeric blocks first, then one-hot blocks."""

    numeric: tuple[NumericColumn, ...]
    categorical: tuple[CategoricalColumn, ...]

    @property
    def width(self) -> int:
        """How many columns ``transform`` makes: the network's input width."""
        return len(self.numeric) + sum(len(c.categories) for c in self.categorical)

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """As the fitted ColumnTransformer: impute, scale, one-hot (unknown categories: zeros)."""
        blocks = [_numeric_block(frame, self.numeric)] if self.numeric else []
        blocks += [_one_hot(frame[c.column], c) for c in self.categorical]
        if not blocks:
            return np.zeros((len(frame), 0), dtype=np.float32)
        return np.hstack(blocks).astype(np.float32)

    @classmethod
    def from_preprocessor(cls, preprocessor: Any, features: FeatureSet) -> FeatureEncoding:
        """The numbers a preprocessor from ``make_preprocessor`` learned when it was fitted.

        Anything else (another transformer, a function inside) has no JSON form: a ValueError.
        """
        expected = {"numeric"} if features.numeric else set()
        expected |= {"categorical"} if features.categorical else set()
        named = set(getattr(preprocessor, "named_transformers_", {})) - {"remainder"}
        if named != expected:
            raise ValueError(
                f"only a preprocessor from make_preprocessor can be saved: it has {sorted(named)}, "
                f"expected {sorted(expected)}"
            )
        numeric: list[NumericColumn] = []
        categorical: list[CategoricalColumn] = []
        if features.numeric:
            steps = preprocessor.named_transformers_["numeric"].named_steps
            medians, scaler = steps["impute"].statistics_, steps["scale"]
            numeric = [
                NumericColumn(name, float(median), float(mean), float(scale))
                for name, median, mean, scale in zip(
                    features.numeric, medians, scaler.mean_, scaler.scale_, strict=True
                )
            ]
        if features.categorical:
            steps = preprocessor.named_transformers_["categorical"].named_steps
            fills, encoder = steps["impute"].statistics_, steps["onehot"]
            categorical = [
                CategoricalColumn(name, _plain(fill), tuple(_plain(v) for v in values))
                for name, fill, values in zip(
                    features.categorical, fills, encoder.categories_, strict=True
                )
            ]
        return cls(tuple(numeric), tuple(categorical))

    def to_dict(self) -> dict[str, Any]:
        return {
            "numeric": [vars(c) for c in self.numeric],
            "categorical": [
                {"column": c.column, "fill": c.fill, "categories": list(c.categories)}
                for c in self.categorical
            ],
        }

    @classmethod
    def from_dict(cls, data: Any, *, max_categories: int = 100_000) -> FeatureEncoding:
        """Strictly: exact keys, finite numbers, plain labels; a ValueError names what is off."""
        raw = _exact(data, _KEYS, "the top level")
        numeric = tuple(_numeric(item) for item in _listed(raw["numeric"], "numeric"))
        categorical = tuple(
            _categorical(item, max_categories)
            for item in _listed(raw["categorical"], "categorical")
        )
        return cls(numeric, categorical)


def _numeric_block(frame: pd.DataFrame, columns: Sequence[NumericColumn]) -> np.ndarray:
    values = frame[[c.column for c in columns]].to_numpy(dtype=np.float64, na_value=np.nan)
    medians = np.array([c.median for c in columns])
    values = np.where(np.isnan(values), medians, values)
    # The same two in-place steps as StandardScaler.transform, so the floats match exactly.
    values -= np.array([c.mean for c in columns])
    values /= np.array([c.scale for c in columns])
    return values


def _one_hot(series: pd.Series, column: CategoricalColumn) -> np.ndarray:
    values = series.astype(object).where(series.notna(), column.fill)
    codes = pd.Index(list(column.categories), dtype=object).get_indexer(pd.Index(values))
    out = np.zeros((len(values), len(column.categories)), dtype=np.float64)
    known = codes >= 0  # an unknown category encodes as all zeros, as handle_unknown="ignore"
    out[np.flatnonzero(known), codes[known]] = 1.0
    return out


def _plain(value: Any) -> Label:
    """A numpy scalar as the Python value JSON holds."""
    return value.item() if hasattr(value, "item") else value  # type: ignore[no-any-return]


def _exact(value: Any, keys: frozenset[str], where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be an object")
    unknown, missing = sorted(set(value) - keys), sorted(keys - set(value))
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} in {where}")
    if missing:
        raise ValueError(f"missing key {missing[0]!r} in {where}")
    return value


def _listed(value: Any, key: str) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"{key} must be a list")
    return value


def _numeric(item: Any) -> NumericColumn:
    raw = _exact(item, _NUMERIC_KEYS, "a numeric column")
    numbers = {key: raw[key] for key in ("median", "mean", "scale")}
    for key, number in numbers.items():
        if type(number) not in (int, float) or not math.isfinite(number):
            raise ValueError(f"numeric column {raw['column']!r:.50}: {key} must be a finite number")
    if not numbers["scale"] > 0:
        raise ValueError(f"numeric column {raw['column']!r:.50}: scale must be positive")
    return NumericColumn(_name(raw["column"]), *(float(numbers[k]) for k in numbers))


def _categorical(item: Any, max_categories: int) -> CategoricalColumn:
    raw = _exact(item, _CATEGORICAL_KEYS, "a categorical column")
    name = _name(raw["column"])
    categories = raw["categories"]
    if not isinstance(categories, list) or not 0 < len(categories) <= max_categories:
        raise ValueError(f"categorical column {name!r}: categories must list 1 to {max_categories}")
    for label in (*categories, raw["fill"]):
        if not _is_label(label):
            raise ValueError(f"categorical column {name!r}: {label!r:.50} is not a plain label")
    return CategoricalColumn(name, raw["fill"], tuple(categories))


def _is_label(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, str | int | bool) and (not isinstance(value, str) or len(value) < 1000)


def _name(value: Any) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= 1000:
        raise ValueError(f"{value!r:.50} is not a column name")
    return value
