"""Bad values refused before training: inf, repeated names, stray text, too small a window.

Each refusal names the file, the column and the problem in one line, and quotes a bad value
with its data row (counted from 1, the header not counted).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data import (
    DatasetSpec,
    DtypeError,
    DuplicateColumnError,
    EmptyDataError,
    FeatureSet,
    MissingColumnError,
    NonFiniteError,
    TooFewRowsError,
    check_scoring_frame,
    load,
    read_table,
    time_split,
)
from data.errors import DataError
from data.window import prepare_training_data


def _table(n: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "when": pd.date_range("2024-01-01", periods=n, freq="D").astype(str),
            "wind": rng.normal(size=n).round(3),
            "colour": rng.choice(["red", "blue"], size=n),
            "label": rng.choice(["a", "b"], size=n),
        }
    )


def _spec(path: Path, **kwargs: object) -> DatasetSpec:
    return DatasetSpec(path=path, label="label", time="when", **kwargs)  # type: ignore[arg-type]


def _csv(tmp_path: Path, frame: pd.DataFrame, name: str = "data.csv") -> Path:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("bad", ["inf", "-inf"])
def test_an_infinite_feature_value_is_refused_with_its_row(tmp_path: Path, bad: str) -> None:
    table = _table().astype({"wind": object})
    table.loc[6, "wind"] = bad  # pandas reads inf and -inf in a CSV as floats
    path = _csv(tmp_path, table)
    match = rf"data\.csv, column 'wind': 1 infinite.*{bad}.*row 7"
    with pytest.raises(NonFiniteError, match=match):
        load(_spec(path))


def test_an_infinite_value_in_parquet_is_refused_too(tmp_path: Path) -> None:
    table = _table()
    table.loc[0, "wind"] = np.inf
    path = tmp_path / "data.parquet"
    table.to_parquet(path)
    with pytest.raises(NonFiniteError, match=r"column 'wind'.*row 1"):
        load(_spec(path))


def test_a_repeated_column_name_is_refused_from_the_header(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("when,wind,label,wind\n2024-01-01,1.0,a,2.0\n2024-01-02,1.5,b,2.5\n")
    with pytest.raises(DuplicateColumnError, match=r"data\.csv, column 'wind': .* 2 times"):
        read_table(path)


def test_a_repeated_column_name_in_parquet_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "data.parquet"
    arrays = [pa.array([1.0, 2.0]), pa.array(["a", "b"]), pa.array([3.0, 4.0])]
    pq.write_table(pa.Table.from_arrays(arrays, names=["wind", "label", "wind"]), path)
    with pytest.raises(DuplicateColumnError, match=r"column 'wind'"):
        read_table(path)


def test_a_column_really_named_like_pandas_renaming_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("wind,wind.1,label\n1.0,2.0,a\n")
    assert list(read_table(path).columns) == ["wind", "wind.1", "label"]


def test_a_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes("when,wind,label\n2024-01-01,1.0,caf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"data\.csv: not UTF-8 text \(byte 0xe9\)"):
        read_table(path)


def test_an_empty_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("")
    with pytest.raises(EmptyDataError, match=r"data\.csv: the file is empty"):
        read_table(path)


def test_one_text_value_in_a_column_of_numbers_is_refused(tmp_path: Path) -> None:
    table = _table().astype({"wind": object})
    table.loc[11, "wind"] = "12,5"
    path = _csv(tmp_path, table)
    match = r"column 'wind': numbers but for 1 text.*'12,5' in data row 12"
    with pytest.raises(DtypeError, match=match):
        load(_spec(path))


def test_a_long_column_is_probed_but_still_read_whole(tmp_path: Path) -> None:
    # 5,000 rows: past the evenly spaced probe of 1,000, to the whole column, to the one typo.
    table = _table(5000).astype({"wind": object})
    table.loc[4321, "wind"] = "7..2"
    with pytest.raises(DtypeError, match=r"'7\.\.2' in data row 4322"):
        load(_spec(_csv(tmp_path, table)))


def test_a_text_column_with_some_numbers_stays_a_category(tmp_path: Path) -> None:
    table = _table()
    table["grade"] = ["1", "2", "3", "other"] * 10  # a quarter text: a real category
    path = _csv(tmp_path, table)
    assert len(load(_spec(path))) == 40


def test_a_declared_category_may_hold_numbers_and_text(tmp_path: Path) -> None:
    table = _table().astype({"wind": object})
    table.loc[3, "wind"] = "calm"
    path = _csv(tmp_path, table)
    assert len(load(_spec(path, categorical=("wind",)))) == 40


@pytest.mark.parametrize("text_first", [False, True])
def test_a_column_with_numbers_in_one_file_and_text_in_another(
    tmp_path: Path, text_first: bool
) -> None:
    table = _table()
    numbers, text = table.iloc[:20], table.iloc[20:].assign(wind="n/a yet")
    (tmp_path / "batches").mkdir()
    names = ("a.csv", "b.csv") if not text_first else ("b.csv", "a.csv")
    _csv(tmp_path / "batches", numbers, names[0])
    _csv(tmp_path / "batches", text, names[1])
    text_file = names[1]
    with pytest.raises(
        DtypeError, match=rf"{text_file}, column 'wind': numeric in {names[0]} but text here"
    ):
        load(_spec(tmp_path / "batches"))


def test_columns_that_no_feature_reads_may_change_kind(tmp_path: Path) -> None:
    table = _table().assign(note="")
    (tmp_path / "batches").mkdir()
    _csv(tmp_path / "batches", table.iloc[:20].assign(note="checked by hand"), "a.csv")
    _csv(tmp_path / "batches", table.iloc[20:].assign(note=np.nan), "b.csv")  # empty: floats
    _csv(tmp_path / "batches", table.iloc[20:].assign(note=1.5), "c.csv")
    spec = _spec(tmp_path / "batches", features=("wind", "colour"))
    assert len(load(spec)) == 60


@pytest.mark.parametrize(
    ("n", "validation", "holdout", "short"),
    [
        (24, 0.4, 0.4, "train"),  # 4 train, 10 validation, 10 holdout
        (40, 0.2, 0.4, "validation"),  # 16 / 8 / 16
        (40, 0.4, 0.2, "holdout"),  # 16 / 16 / 8
        (5, 0.2, 0.2, "train, validation and holdout"),  # the 5-row window
    ],
)
def test_a_split_with_too_few_rows_names_the_keys_and_file(
    tmp_path: Path, n: int, validation: float, holdout: float, short: str
) -> None:
    path = _csv(tmp_path, _table(n))
    spec = _spec(path)
    with pytest.raises(TooFewRowsError) as caught:
        time_split(load(spec), spec, validation=validation, holdout=holdout, min_rows=10)
    message = str(caught.value)
    assert message.startswith(f"file {path}: ")
    assert f"too few in {short} (window.min_rows is 10)" in message
    for key in ("window.validation", "window.holdout", "window.min_rows"):
        assert key in message


def test_the_minimum_is_configurable(tmp_path: Path) -> None:
    path = _csv(tmp_path, _table(12).assign(label=["a", "b"] * 6))
    spec = _spec(path, every="YS")
    with pytest.raises(TooFewRowsError):
        prepare_training_data(spec, periods=1, validation=0.25, holdout=0.25)
    data = prepare_training_data(spec, periods=1, validation=0.25, holdout=0.25, min_rows=3)
    assert (len(data.split.train), len(data.split.validation), len(data.split.holdout)) == (6, 3, 3)


def test_unlabelled_rows_do_not_count_towards_the_minimum(tmp_path: Path) -> None:
    table = _table(40)
    table.loc[32:, "label"] = np.nan  # the newest 8 rows: the holdout has no labels
    path = _csv(tmp_path, table)
    spec = _spec(path)
    with pytest.raises(TooFewRowsError, match=r"0 holdout labelled rows, too few in holdout"):
        time_split(load(spec), spec, validation=0.2, holdout=0.2, min_rows=5)


def test_bad_split_fractions_name_their_keys_and_file(tmp_path: Path) -> None:
    path = _csv(tmp_path, _table())
    spec = _spec(path)
    match = r"data\.csv: window\.validation \(0\.6\) and window\.holdout"
    with pytest.raises(DataError, match=match):
        time_split(load(spec), spec, validation=0.6, holdout=0.5)


FEATURES = FeatureSet(numeric=("wind",), categorical=("colour",))


def test_a_file_to_score_with_every_feature_passes_extra_columns_and_all() -> None:
    frame = _table().drop(columns="label").assign(note="kept")
    check_scoring_frame(frame, FEATURES, source="new.csv")


def test_a_file_to_score_lacking_features_names_them() -> None:
    frame = _table().drop(columns=["wind", "colour"])
    with pytest.raises(MissingColumnError, match=r"new\.csv, column 'wind': .*'wind', 'colour'"):
        check_scoring_frame(frame, FEATURES, source="new.csv")


def test_a_file_to_score_with_text_in_a_numeric_feature_quotes_it() -> None:
    frame = _table().astype({"wind": object})
    frame.loc[4, "wind"] = "gusty"
    match = r"column 'wind': expected a numeric.*'gusty' in data row 5"
    with pytest.raises(DtypeError, match=match):
        check_scoring_frame(frame, FEATURES, source="new.csv")


def test_a_file_to_score_with_inf_is_refused() -> None:
    frame = _table()
    frame.loc[2, "wind"] = -np.inf
    with pytest.raises(NonFiniteError, match=r"column 'wind'.*-inf in data row 3"):
        check_scoring_frame(frame, FEATURES, source="new.csv")
