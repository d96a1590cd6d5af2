"""The data contract on its own: learned from a fitted encoding, inputs coerced to it, findings
counted, and its JSON form read strictly."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from data.contract import DataContract, InputReport, StrictInputError
from data.encoding import FeatureEncoding
from data.errors import DtypeError, NonFiniteError
from data.preprocessing import make_preprocessor
from data.schema import FeatureSet

FEATURES = FeatureSet(numeric=("x",), categorical=("code",))


def learned(frame: pd.DataFrame) -> tuple[DataContract, FeatureEncoding]:
    encoding = FeatureEncoding.from_preprocessor(make_preprocessor(FEATURES).fit(frame), FEATURES)
    return DataContract.learn(frame, encoding), encoding


def training(codes: list[object]) -> pd.DataFrame:
    return pd.DataFrame({"x": np.linspace(-1.0, 1.0, len(codes)), "code": codes})


@pytest.mark.parametrize(
    ("trained", "given"),
    [
        (["21", "3", "7"] * 4, [21, 3, 7]),  # Parquet text codes, CSV integer codes
        ([21, 3, 7] * 4, ["21", "3", "7"]),  # the other way round
        ([21, 3, 7] * 4, [21.0, 3.0, 7.0]),  # a CSV column with gaps reads codes as floats
        (["21", "3", "7"] * 4, [21.0, 3.0, 7.0]),
        ([True, False] * 6, ["true", "False", "1"]),
    ],
)
def test_a_code_encodes_the_same_whatever_type_the_reader_gave_it(
    trained: list[object], given: list[object]
) -> None:
    contract, encoding = learned(training(trained))
    as_trained = pd.DataFrame({"x": 0.0, "code": [trained[i] for i in range(len(given))]})
    if isinstance(trained[0], bool):
        as_trained["code"] = [True, False, True]
    as_given = pd.DataFrame({"x": 0.0, "code": given})
    conformed, report = contract.conform(as_given, source="in.csv")
    expected = encoding.transform(contract.conform(as_trained, source="t")[0])
    np.testing.assert_array_equal(encoding.transform(conformed), expected)
    assert report.clean and expected[:, 1:].sum() == len(given)  # every code known


def test_text_where_the_champion_learned_numeric_codes_is_refused_naming_the_row() -> None:
    contract, _ = learned(training([21, 3, 7] * 4))
    frame = pd.DataFrame({"x": [0.0, 0.0], "code": ["21", "abc"]})
    with pytest.raises(DtypeError) as caught:
        contract.conform(frame, source="in.csv", first_row=101)
    message = str(caught.value)
    assert message.startswith("file in.csv, column 'code': ")
    assert "'abc' in data row 102" in message and "number" in message


def test_numbers_stored_as_text_are_numbers_and_text_is_refused() -> None:
    contract, _ = learned(training(["a", "b"] * 5))
    conformed, _ = contract.conform(pd.DataFrame({"x": ["0.5"], "code": ["a"]}), source="f")
    assert conformed["x"].tolist() == [0.5]
    with pytest.raises(DtypeError, match=r"column 'x'.*'oops' in data row 3"):
        contract.conform(pd.DataFrame({"x": ["1", "2", "oops"], "code": "a"}), source="f")
    with pytest.raises(NonFiniteError, match=r"column 'x'.*data row 2"):
        contract.conform(pd.DataFrame({"x": [1.0, np.inf], "code": "a"}), source="f")


def test_unseen_missing_and_out_of_range_are_counted_per_column_across_pieces() -> None:
    contract, _ = learned(training(["a", "b"] * 5))
    first = pd.DataFrame({"x": [0.0, 5.0, np.nan], "code": ["a", "z", None]})
    second = pd.DataFrame({"x": [-3.0, 0.5], "code": ["z", "y"]})
    report = InputReport()
    for piece in (first, second):
        report = report.merged(contract.conform(piece, source="f")[1])
    document = report.to_dict()
    assert document["rows"] == 5 and not document["clean"]
    assert document["columns"]["code"] == {
        "unseen": 3,
        "missing": 1,
        "below_range": 0,
        "above_range": 0,
        "unseen_examples": ["z", "y"],
    }
    assert document["columns"]["x"]["missing"] == 1
    assert (document["columns"]["x"]["below_range"], document["columns"]["x"]["above_range"]) == (
        1,
        1,
    )
    with pytest.raises(StrictInputError) as caught:
        report.refuse("new.csv")
    message = str(caught.value)
    assert message.startswith("file new.csv, column 'x': ") and "(and 1 more column(s))" in message
    assert "\n" not in message


def test_missing_values_training_saw_are_not_findings() -> None:
    contract, _ = learned(pd.DataFrame({"x": [0.0, np.nan, 1.0], "code": ["a", None, "b"]}))
    _, report = contract.conform(pd.DataFrame({"x": [np.nan], "code": [None]}), source="f")
    assert report.clean


def test_the_contract_round_trips_through_json() -> None:
    contract, encoding = learned(training([21, 3, 7] * 4))
    again = DataContract.from_dict(json.loads(json.dumps(contract.to_dict())))
    assert again == contract and again.matches(encoding)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"format": 0}, "format 0 is not 1"),
        ({"surprise": 1}, "unknown key 'surprise'"),
        ({"numeric": [{"column": "x"}]}, "missing key 'dtype' in a numeric field"),
        (
            {"numeric": [{"column": "x", "dtype": "f", "low": 1, "high": 0, "missing": False}]},
            "low is above high",
        ),
        (
            {"numeric": [{"column": "x", "dtype": "f", "low": 0, "high": 1e999, "missing": 0}]},
            "finite numbers",
        ),
        (
            {
                "categorical": [
                    {"column": "c", "dtype": "o", "kind": "text", "values": [1], "missing": False}
                ]
            },
            "kind 'text' fits no values",
        ),
        (
            {
                "categorical": [
                    {"column": "c", "dtype": "o", "kind": "text", "values": [{}], "missing": False}
                ]
            },
            "is not a plain label",
        ),
    ],
)
def test_a_contract_is_read_strictly(change: dict[str, object], named: str) -> None:
    contract, _ = learned(training(["a", "b"] * 5))
    with pytest.raises(ValueError, match=named):
        DataContract.from_dict({**contract.to_dict(), **change})
