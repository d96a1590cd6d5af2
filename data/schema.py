"""What a dataset is: where it lives, its label and time columns, and its features."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from data.errors import (
    AllMissingError,
    DataError,
    DtypeError,
    EmptyDataError,
    MissingColumnError,
    NonFiniteError,
)

# Fewest labelled rows a split (train, validation, holdout) may have: a 1-row holdout judged a
# promotion once. Ten still lets the smallest real windows through (seattle's 91-row holdout).
DEFAULT_MIN_ROWS = 10


@dataclass(frozen=True)
class DatasetSpec:
    """A tabular classification dataset that keeps growing.

    ``path`` is a CSV or Parquet file, or a folder of them (one file a batch). ``time`` names the
    time column; ``None`` means the rows are in time order already. ``features`` defaults to every
    column but the label and the time; ``numeric`` and ``categorical`` are inferred from dtypes
    unless declared. ``every`` is the batch rule: a pandas period alias ("YS", "MS", "W"), a row
    count for row-ordered data, or "file" for a folder of batch files. ``settle_s``, ``marker``,
    ``duplicates`` and ``out_of_order`` say which batch files are taken (data/intake.py).
    """

    path: Path
    label: str
    time: str | None = None
    features: tuple[str, ...] | None = None
    numeric: tuple[str, ...] | None = None
    categorical: tuple[str, ...] | None = None
    every: str | int | None = None
    name: str = field(default="")
    # Batch intake (data/intake.py): how long a file that just changed is watched; a writer's
    # marker suffix; what a copy of a batch, or a batch older than the champion's data, gets.
    settle_s: float = 0.0
    marker: str | None = None
    duplicates: str = "refuse"
    out_of_order: str = "refuse"

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        for attr in ("features", "numeric", "categorical"):
            value = getattr(self, attr)
            if value is not None:
                object.__setattr__(self, attr, tuple(value))
        if not self.label:
            raise DataError("the dataset spec needs a label column", path=self.path)
        if isinstance(self.every, int) and self.every <= 0:
            raise DataError(
                f"batch size 'every' must be positive, got {self.every}", path=self.path
            )

    def declared_columns(self) -> list[str]:
        """Every column the spec names explicitly."""
        named = [self.label] + ([self.time] if self.time else [])
        for group in (self.features, self.numeric, self.categorical):
            named.extend(group or ())
        return list(dict.fromkeys(named))


@dataclass(frozen=True)
class FeatureSet:
    """The resolved feature columns of a dataset, split by kind."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]

    @property
    def all(self) -> tuple[str, ...]:
        return self.numeric + self.categorical


def resolve_features(spec: DatasetSpec, frame: pd.DataFrame) -> FeatureSet:
    """Split the spec's features into numeric and categorical, inferring what is not declared."""
    excluded = {spec.label, spec.time}
    declared = spec.features or tuple(
        dict.fromkeys((spec.numeric or ()) + (spec.categorical or ()))
    )
    features = declared or tuple(c for c in frame.columns if c not in excluded)
    numeric = set(spec.numeric or ())
    categorical = set(spec.categorical or ())
    for column in features:
        if column in numeric or column in categorical:
            continue
        if pd.api.types.is_bool_dtype(frame[column]) or not pd.api.types.is_numeric_dtype(
            frame[column]
        ):
            categorical.add(column)
        else:
            numeric.add(column)
    return FeatureSet(
        numeric=tuple(c for c in features if c in numeric),
        categorical=tuple(c for c in features if c in categorical),
    )


def validate_frame(
    frame: pd.DataFrame, spec: DatasetSpec, source: str | Path, *, require_label: bool = True
) -> FeatureSet:
    """Check a loaded table against its spec; raise a DataError naming file, column and problem.

    Rows in messages are data rows counted from 1, the header not counted.
    """
    required = [c for c in spec.declared_columns() if require_label or c != spec.label]
    for column in required:
        if column not in frame.columns:
            kind = _role(spec, column)
            raise MissingColumnError(
                f"{kind} column is missing (columns present: {', '.join(map(str, frame.columns))})",
                path=source,
                column=column,
            )
    if frame.empty:
        raise EmptyDataError("no rows to use", path=source)
    if require_label and frame[spec.label].isna().all():
        raise AllMissingError("the label column has no values", path=source, column=spec.label)
    if require_label:
        check_label(frame[spec.label], source=source, column=spec.label)
    features = resolve_features(spec, frame)
    if not features.all:
        raise DataError("no feature columns besides the label and time", path=source)
    for column in features.all:
        if frame[column].isna().all():
            raise AllMissingError("the feature has no values", path=source, column=column)
    check_feature_values(frame, features, source=source, inferred=_inferred(spec, features))
    return features


def check_label(series: pd.Series, *, source: str | Path, column: str) -> None:
    """Labels are classes: numbers with a fractional part are a measurement, not a class."""
    if not pd.api.types.is_float_dtype(series):
        return
    values = series.dropna()
    fractional = values[values != values.round()]
    if len(fractional):
        row = series.index.get_loc(fractional.index[0])
        where = f" in data row {row + 1}" if isinstance(row, int) else ""
        raise DtypeError(
            f"the label holds fractional numbers (e.g. {fractional.iloc[0]!r}{where}, "
            f"{len(fractional)} in all): driftune learns classes, so bin or round them into "
            "classes first, or name the right label column",
            path=source,
            column=column,
        )


def check_feature_values(
    frame: pd.DataFrame,
    features: FeatureSet,
    *,
    source: str | Path,
    inferred: tuple[str, ...] = (),
) -> None:
    """Numeric features hold finite numbers; an ``inferred`` categorical one is not numbers
    but for a few text values (a typo that would otherwise turn the column categorical)."""
    for column in features.numeric:
        check_numeric(frame[column], source=source, column=column)
        check_finite(frame[column], source=source, column=column)
    for column in features.categorical:
        if column in inferred:
            check_not_mostly_numbers(frame[column], source=source, column=column)


def check_scoring_frame(frame: pd.DataFrame, features: FeatureSet, *, source: str | Path) -> None:
    """A file to score has every feature the model was trained on, with usable values.

    The same checks training makes, so a file the champion cannot read is refused in one line
    before anything is scored; columns the model does not use are left alone.
    """
    missing = [c for c in features.all if c not in frame.columns]
    if missing:
        raise MissingColumnError(
            f"the champion's feature column(s) {', '.join(map(repr, missing))} are missing "
            f"(columns present: {', '.join(map(str, frame.columns))})",
            path=source,
            column=missing[0],
        )
    if frame.empty:
        raise EmptyDataError("no rows to score", path=source)
    check_feature_values(frame, features, source=source)


def check_numeric(series: pd.Series, *, source: str | Path, column: str) -> None:
    """A declared-numeric column must hold numbers: text there means the data changed shape."""
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return
    if series.isna().all():
        return  # an empty column reads as text; whether it may be empty is checked elsewhere
    coerced = pd.to_numeric(series, errors="coerce")
    bad = series[coerced.isna() & series.notna()]
    raise DtypeError(
        f"expected a numeric column but it holds text{_example(series, bad)}",
        path=source,
        column=column,
    )


def check_finite(series: pd.Series, *, source: str | Path, column: str) -> None:
    """inf and -inf are refused: the scaler and the network would turn them into NaN losses."""
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    infinite = np.isinf(values)
    if infinite.any():
        first = int(np.flatnonzero(infinite)[0])
        raise NonFiniteError(
            f"{int(infinite.sum())} infinite value(s), e.g. {values[first]} in data row "
            f"{first + 1}: use a number, or leave the cell empty for a missing value",
            path=source,
            column=column,
        )


# An inferred column whose values are at least this share numbers is meant to be numeric.
MOSTLY_NUMBERS = 0.9
# A long column is first probed at this many evenly spaced rows: under half numbers there, it
# cannot be 90% numbers overall but for an adversarial layout (about 25 standard errors away).
PROBE_ROWS = 1000


def check_not_mostly_numbers(series: pd.Series, *, source: str | Path, column: str) -> None:
    """Refuse a text column that is numbers but for a few values (``12,5``, ``n.a.``, ``?``).

    pandas reads such a column as text and driftune would treat it as categorical, one
    category per distinct number, and score the champion on a schema that no longer matches.
    """
    present = series.dropna()
    if pd.api.types.is_bool_dtype(present) or not len(present):
        return
    probe = present.iloc[:: max(len(present) // PROBE_ROWS, 1)]
    if len(present) > PROBE_ROWS and _number_share(probe) < 0.5:
        return  # clearly text; spares parsing a million category labels as numbers
    numbers = pd.to_numeric(present, errors="coerce")
    text = present[numbers.isna()]
    if len(text) and len(text) <= (1 - MOSTLY_NUMBERS) * len(present):
        raise DtypeError(
            f"numbers but for {len(text)} text value(s){_example(series, text)}: fix the "
            "value(s), or declare the column in dataset.categorical if it is a category",
            path=source,
            column=column,
        )


def _number_share(values: pd.Series) -> float:
    return float(pd.to_numeric(values, errors="coerce").notna().mean())


def _example(series: pd.Series, bad: pd.Series) -> str:
    if not len(bad):
        return ""
    row = series.index.get_loc(bad.index[0])
    where = f" in data row {row + 1}" if isinstance(row, int) else ""
    return f" (e.g. {bad.iloc[0]!r}{where})"


def _inferred(spec: DatasetSpec, features: FeatureSet) -> tuple[str, ...]:
    """The features whose kind was read from their dtype, not declared in the spec."""
    declared = set(spec.numeric or ()) | set(spec.categorical or ())
    return tuple(c for c in features.all if c not in declared)


def _role(spec: DatasetSpec, column: str) -> str:
    if column == spec.label:
        return "label"
    if column == spec.time:
        return "time"
    return "declared feature"
