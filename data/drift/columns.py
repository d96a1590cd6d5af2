"""Columns as a drift check sees them: which features, checked for bad input, as numbers or text."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from data.drift.stats import FloatArray
from data.errors import AllMissingError, DtypeError, EmptyDataError, MissingColumnError
from data.schema import DatasetSpec, FeatureSet

# Object columns holding these kinds of values are numbers that lost their dtype on the way (a
# frame built from records), not text.
NUMBER_KINDS = {"integer", "floating", "mixed-integer-float", "decimal", "boolean", "empty"}


def infer_features(
    frame: pd.DataFrame,
    features: FeatureSet | Sequence[str] | None,
    label: str | None,
    spec: DatasetSpec | None,
) -> FeatureSet:
    """The features to check and their kinds, from an explicit FeatureSet, names or the spec.

    Without either, every column but the label, the time and datetime columns is a feature.
    Kinds declared on the spec hold; the rest are numeric when their dtype is (bools aside) and
    categorical otherwise, as in ``resolve_features``.
    """
    if isinstance(features, FeatureSet):
        return features
    excluded = {label} | ({spec.label, spec.time} if spec is not None else set())
    declared_numeric = set(spec.numeric or ()) if spec is not None else set()
    declared_categorical = set(spec.categorical or ()) if spec is not None else set()
    if features is not None:
        names = list(features)
    elif spec is not None and (spec.features or declared_numeric or declared_categorical):
        names = list(
            spec.features or dict.fromkeys([*(spec.numeric or ()), *(spec.categorical or ())])
        )
    else:
        names = [
            c
            for c in frame.columns
            if c not in excluded and not pd.api.types.is_datetime64_any_dtype(frame[c])
        ]
    for name in names:
        if name not in frame.columns:
            raise MissingColumnError("the feature is missing from the reference", column=name)
    numeric = tuple(
        n
        for n in names
        if n in declared_numeric or (n not in declared_categorical and _looks_numeric(frame[n]))
    )
    return FeatureSet(numeric=numeric, categorical=tuple(n for n in names if n not in numeric))


def _looks_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def check_side(frame: pd.DataFrame, features: FeatureSet, side: str) -> None:
    """Each feature present and holding values; rows to compare. Errors name the feature."""
    for name in features.all:
        if name not in frame.columns:
            where = "" if side == "reference" else " (the reference has it)"
            raise MissingColumnError(f"the feature is missing from the {side}{where}", column=name)
    if len(frame) == 0:
        raise EmptyDataError(f"the {side} has no rows to check")
    for name in features.all:
        if not frame[name].notna().any():
            raise AllMissingError(f"the feature has no values in the {side}", column=name)


def numeric_values(
    series: pd.Series, *, side: str, column: str, rows: NDArray[np.intp] | None
) -> FloatArray:
    """A numeric feature as float64 (missing as NaN); text where numbers belong is a DtypeError."""
    if not pd.api.types.is_numeric_dtype(series):
        kind = pd.api.types.infer_dtype(series, skipna=True)
        if kind not in NUMBER_KINDS:
            coerced = pd.to_numeric(series, errors="coerce")
            bad = series[coerced.isna() & series.notna()]
            example = bad.iloc[0] if len(bad) else series.dropna().iloc[0]
            raise DtypeError(
                f"the feature is numeric in the reference but arrived as {kind} values "
                f"({series.dtype}) in the {side}, e.g. {example!r}",
                column=column,
            )
        series = series.astype(np.float64)
    picked = series if rows is None else series.iloc[rows]
    return picked.to_numpy(dtype=np.float64, na_value=np.nan)


def category_strings(series: pd.Series, *, rows: NDArray[np.intp] | None) -> NDArray[np.object_]:
    """A categorical feature's values as text (None where missing).

    Whole-number floats print as integers, so a category 3 stays "3" when a missing value has
    turned its column into floats on one side only.
    """
    picked = series if rows is None else series.iloc[rows]
    present = picked.notna().to_numpy()
    values = picked[present]
    if _looks_numeric(values):
        floats = values.to_numpy(dtype=np.float64)
        if np.all(np.isfinite(floats)) and np.all(floats == np.floor(floats)):
            values = pd.Series(floats.astype(np.int64))
    text = np.full(len(picked), None, dtype=object)
    text[present] = values.astype(str).to_numpy(dtype=object)
    return text


def sample_positions(
    n: int, limit: int | None, rng: np.random.Generator
) -> NDArray[np.intp] | None:
    """Row positions of a seeded sample of ``limit`` rows (in order), or None to keep all ``n``."""
    if limit is None or n <= limit:
        return None
    return np.sort(rng.choice(n, size=limit, replace=False)).astype(np.intp)
