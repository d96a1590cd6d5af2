"""Feature preprocessing and the time-ordered train / validation / holdout split."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from data.errors import DataError, TooFewClassesError, TooFewRowsError
from data.schema import DEFAULT_MIN_ROWS, DatasetSpec, FeatureSet


def make_preprocessor(features: FeatureSet) -> ColumnTransformer:
    """Numeric: median imputation + standard scaling; categorical: most frequent + one-hot.

    Unknown categories at prediction time encode as all zeros rather than failing, since new
    batches of drifting data bring categories the training window never saw.
    """
    numeric = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    categorical = Pipeline(
        [
            ("as_text", FunctionTransformer(_as_object, feature_names_out="one-to-one")),
            ("impute", SimpleImputer(strategy="most_frequent")),
            ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
        ]
    )
    transformers = []
    if features.numeric:
        transformers.append(("numeric", numeric, list(features.numeric)))
    if features.categorical:
        transformers.append(("categorical", categorical, list(features.categorical)))
    return ColumnTransformer(transformers, remainder="drop", sparse_threshold=0.0)


def _as_object(frame: pd.DataFrame) -> pd.DataFrame:
    # pandas' string dtype holds NaN as a missing marker that SimpleImputer cannot see; plain
    # objects with None make "missing" mean the same for every source format.
    values = frame.astype(object)
    return values.where(frame.notna(), np.nan)


@dataclass(frozen=True)
class Split:
    """Time-ordered slices: the oldest rows train, the next validate, the newest are the holdout."""

    train: pd.DataFrame
    validation: pd.DataFrame
    holdout: pd.DataFrame


# The fewest labelled rows a split may have unless ``window.min_rows`` says otherwise. It is a
# floor against degenerate splits, not a quality bar: a 1-row holdout would let the gate promote
# on one coin flip, while every shipped config and test project has 60 or more rows a split.


def time_split(
    frame: pd.DataFrame,
    spec: DatasetSpec,
    *,
    validation: float = 0.15,
    holdout: float = 0.15,
    min_rows: int = DEFAULT_MIN_ROWS,
) -> Split:
    """Split a time-ordered frame; the holdout is the newest ``holdout`` fraction of rows.

    Each split needs ``min_rows`` labelled rows (the holdout only when ``holdout`` > 0); errors
    name the config keys that set the fractions and the minimum, and the dataset's path.
    """
    if not (0 < validation < 1 and 0 <= holdout < 1 and validation + holdout < 1):
        raise DataError(
            f"window.validation ({validation}) and window.holdout ({holdout}) must each lie "
            "in (0, 1) and leave rows to train on (sum below 1)",
            path=spec.path,
        )
    ordered = frame.sort_values(spec.time, kind="stable") if spec.time else frame
    n = len(ordered)
    n_holdout = round(n * holdout)
    n_validation = max(round(n * validation), 1)
    n_train = max(n - n_holdout - n_validation, 0)
    split = Split(
        train=ordered.iloc[:n_train],
        validation=ordered.iloc[n_train : n_train + n_validation],
        holdout=ordered.iloc[n_train + n_validation :],
    )
    require_rows(split, spec, min_rows=min_rows, check_holdout=holdout > 0)
    require_classes(split.train, spec)
    return split


def require_rows(split: Split, spec: DatasetSpec, *, min_rows: int, check_holdout: bool) -> None:
    """Every split has at least ``min_rows`` labelled rows, else one line saying what to change."""
    sizes = {
        name: int(part[spec.label].notna().sum())
        for name, part in (
            ("train", split.train),
            ("validation", split.validation),
            ("holdout", split.holdout),
        )
    }
    if min_rows < 2:
        raise DataError(f"window.min_rows must be at least 2, got {min_rows}", path=spec.path)
    checked = sizes if check_holdout else {k: v for k, v in sizes.items() if k != "holdout"}
    short = [name for name, size in checked.items() if size < min_rows]
    if short:
        counts = ", ".join(f"{size} {name}" for name, size in sizes.items())
        raise TooFewRowsError(
            f"the training window splits into {counts} labelled rows, too few in "
            f"{_listing(short)} (window.min_rows is {min_rows}): add data, raise "
            "window.periods, or change window.validation / window.holdout / window.min_rows",
            path=spec.path,
        )


def _listing(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


@dataclass(frozen=True)
class EncodedSplit:
    """A split's feature arrays after preprocessing fitted on its training rows only."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    preprocessor: ColumnTransformer


def encode_split(split: Split, spec: DatasetSpec, features: FeatureSet) -> EncodedSplit:
    """Fit the preprocessor on the training rows and encode training and validation with it.

    The holdout stays raw: it is scored later by models that carry their own preprocessing.
    """
    X_train, y_train = features_and_labels(split.train, spec, features)
    X_val, y_val = features_and_labels(split.validation, spec, features)
    preprocessor = make_preprocessor(features).fit(X_train)
    return EncodedSplit(
        X_train=np.asarray(preprocessor.transform(X_train), dtype=np.float32),
        y_train=y_train.to_numpy(),
        X_val=np.asarray(preprocessor.transform(X_val), dtype=np.float32),
        y_val=y_val.to_numpy(),
        preprocessor=preprocessor,
    )


def encode_train_test(
    train: pd.DataFrame, test: pd.DataFrame, spec: DatasetSpec, features: FeatureSet
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Labelled rows of both frames encoded with preprocessing fitted on ``train`` alone."""
    X_train, y_train = features_and_labels(train, spec, features)
    X_test, y_test = features_and_labels(test, spec, features)
    preprocessor = make_preprocessor(features).fit(X_train)
    return (
        np.asarray(preprocessor.transform(X_train), dtype=np.float32),
        y_train.to_numpy(),
        np.asarray(preprocessor.transform(X_test), dtype=np.float32),
        y_test.to_numpy(),
    )


def require_classes(frame: pd.DataFrame, spec: DatasetSpec) -> None:
    """Training needs at least two label classes."""
    classes = frame[spec.label].dropna().unique()
    if len(classes) < 2:
        raise TooFewClassesError(
            f"need at least two classes to train, found {list(classes)} in {len(frame)} rows",
            path=spec.path,
            column=spec.label,
        )


def features_and_labels(
    frame: pd.DataFrame, spec: DatasetSpec, features: FeatureSet
) -> tuple[pd.DataFrame, pd.Series]:
    """The feature columns and the label of the rows that have a label."""
    labelled = frame[frame[spec.label].notna()]
    return labelled[list(features.all)], labelled[spec.label]
