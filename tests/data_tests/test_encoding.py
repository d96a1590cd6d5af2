"""FeatureEncoding: a fitted preprocessor as data, scoring exactly as the preprocessor does."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from data.encoding import FeatureEncoding
from data.preprocessing import make_preprocessor
from data.samples import sample_path
from data.schema import FeatureSet


def _frame(rng: np.random.Generator, n: int) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "x": rng.normal(3, 2, n),
            "k": rng.integers(0, 5, n).astype(float),
            "colour": rng.choice(["red", "green", "blue"], n).astype(object),
            "size": rng.choice([1, 2, 3], n),
        }
    )
    frame.loc[rng.random(n) < 0.1, "x"] = np.nan
    frame.loc[rng.random(n) < 0.1, "colour"] = None
    return frame


FEATURES = FeatureSet(numeric=("x", "k"), categorical=("colour", "size"))


@pytest.mark.parametrize("seed", range(5))
def test_it_transforms_exactly_as_the_fitted_preprocessor(seed: int) -> None:
    rng = np.random.default_rng(seed)
    train, new = _frame(rng, 300), _frame(rng, 200)
    new.loc[0, "colour"] = "purple"  # a category the training rows never had
    new.loc[1, "size"] = 9
    preprocessor = make_preprocessor(FEATURES).fit(train[list(FEATURES.all)])
    encoding = FeatureEncoding.from_preprocessor(preprocessor, FEATURES)
    expected = np.asarray(preprocessor.transform(new[list(FEATURES.all)]), dtype=np.float32)
    assert encoding.width == expected.shape[1] == 2 + 3 + 3
    np.testing.assert_array_equal(encoding.transform(new), expected)


def test_seattle_round_trips_through_json_to_the_same_columns() -> None:
    frame = pd.read_csv(sample_path("seattle-weather.csv"))
    features = FeatureSet(("precipitation", "temp_max", "temp_min", "wind"), ())
    preprocessor = make_preprocessor(features).fit(frame[list(features.all)])
    encoding = FeatureEncoding.from_preprocessor(preprocessor, features)
    again = FeatureEncoding.from_dict(json.loads(json.dumps(encoding.to_dict())))
    assert again == encoding
    expected = np.asarray(preprocessor.transform(frame[list(features.all)]), dtype=np.float32)
    np.testing.assert_array_equal(again.transform(frame), expected)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(extra=1), "unknown key 'extra'"),
        (lambda d: d.pop("numeric"), "missing key 'numeric'"),
        (lambda d: d["numeric"][0].update(scale=0.0), "scale must be positive"),
        (lambda d: d["numeric"][0].update(mean="1"), "mean must be a finite number"),
        (lambda d: d["categorical"][0].update(categories=[]), "categories must list"),
        (lambda d: d["categorical"][0].update(fill={"a": 1}), "is not a plain label"),
        (lambda d: d["categorical"][0].update(column=7), "is not a column name"),
    ],
)
def test_a_description_out_of_shape_is_refused_naming_the_key(change, message) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    train = _frame(rng, 100)
    preprocessor = make_preprocessor(FEATURES).fit(train[list(FEATURES.all)])
    data = FeatureEncoding.from_preprocessor(preprocessor, FEATURES).to_dict()
    change(data)
    with pytest.raises(ValueError, match=message):
        FeatureEncoding.from_dict(data)
