"""Loading real and messy tables: batches, splits, and a clear error for every kind of bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data import (
    AllMissingError,
    DataError,
    DatasetSpec,
    DtypeError,
    EmptyDataError,
    MissingColumnError,
    MissingFileError,
    TimeParseError,
    TooFewClassesError,
    batches,
    features_and_labels,
    frame_sha256,
    load,
    make_preprocessor,
    resolve_features,
    sample_path,
    time_split,
)

SEATTLE = DatasetSpec(path=sample_path("seattle-weather.csv"), label="weather", time="date")


def _write(tmp_path: Path, frame: pd.DataFrame, name: str = "data.csv") -> Path:
    path = tmp_path / name
    if name.endswith(".parquet"):
        frame.to_parquet(path)
    else:
        frame.to_csv(path, index=False)
    return path


def _table(n: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "when": pd.date_range("2024-01-01", periods=n, freq="D").astype(str),
            "x": rng.normal(size=n),
            "colour": rng.choice(["red", "blue"], size=n),
            "label": rng.choice(["a", "b"], size=n),
        }
    )


def test_seattle_loads_time_ordered_with_inferred_features() -> None:
    frame = load(SEATTLE)
    assert len(frame) == 1461
    assert frame["date"].is_monotonic_increasing
    features = resolve_features(SEATTLE, frame)
    assert features.numeric == ("precipitation", "temp_max", "temp_min", "wind")
    assert features.categorical == ()


def test_yearly_batches_of_seattle() -> None:
    found = [(b.id, len(b.frame)) for b in batches(SEATTLE, every="YS")]
    assert found == [
        ("2012-01-01", 366),
        ("2013-01-01", 365),
        ("2014-01-01", 365),
        ("2015-01-01", 365),
    ]


def test_row_count_batches_for_row_ordered_data() -> None:
    spec = DatasetSpec(path=sample_path("rainfall.csv"), label="rain")
    sizes = [len(b.frame) for b in batches(spec, every=5000)]
    assert sizes == [5000, 5000, 5000, 3159]


def test_folder_of_batch_files_by_file(tmp_path: Path) -> None:
    table = _table(12)
    folder = tmp_path / "batches"
    folder.mkdir()
    _write(folder, table.iloc[:6], "2024-a.csv")
    _write(folder, table.iloc[6:], "2024-b.parquet")
    spec = DatasetSpec(path=folder, label="label", time="when")
    assert len(load(spec)) == 12
    assert [(b.id, len(b.frame)) for b in batches(spec, every="file")] == [
        ("2024-a.csv", 6),
        ("2024-b.parquet", 6),
    ]


def test_time_split_puts_the_newest_rows_in_the_holdout() -> None:
    split = time_split(load(SEATTLE), SEATTLE, validation=0.2, holdout=0.2)
    assert split.train["date"].max() < split.validation["date"].min()
    assert split.validation["date"].max() < split.holdout["date"].min()
    assert len(split.train) + len(split.validation) + len(split.holdout) == 1461


def test_preprocessor_imputes_scales_and_one_hot_encodes_unknowns() -> None:
    frame = _table(40)
    frame.loc[3, "x"] = np.nan
    frame.loc[5, "colour"] = None
    spec = DatasetSpec(path="unused.csv", label="label", time="when")
    features = resolve_features(spec, frame)
    assert features.categorical == ("colour",)
    X, _ = features_and_labels(frame, spec, features)
    encoded = make_preprocessor(features).fit(X)
    out = encoded.transform(X)
    assert out.shape == (40, 3) and np.isfinite(out).all()
    assert abs(out[:, 0].mean()) < 1e-9
    unseen = encoded.transform(pd.DataFrame({"x": [np.nan], "colour": ["green"]}))
    assert unseen[0, 1:].tolist() == [0.0, 0.0]


def test_content_hash_reads_every_row() -> None:
    frame = load(SEATTLE)
    changed = frame.copy()
    changed.loc[1400, "wind"] += 0.1  # far past the 10,000-row digest MLflow would take
    assert frame_sha256(frame) == frame_sha256(frame.copy())
    assert frame_sha256(frame) != frame_sha256(changed)


# Every bad input names the file, the column and the problem, and writes nothing.


def test_missing_file(tmp_path: Path) -> None:
    spec = DatasetSpec(path=tmp_path / "nope.csv", label="label")
    with pytest.raises(MissingFileError, match=r"nope\.csv.*no such file"):
        load(spec)


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match=r"broken\.parquet.*cannot read"):
        load(DatasetSpec(path=path, label="label"))


def test_missing_label_column(tmp_path: Path) -> None:
    path = _write(tmp_path, _table().drop(columns="label"))
    with pytest.raises(MissingColumnError, match=r"data\.csv, column 'label': label column"):
        load(DatasetSpec(path=path, label="label", time="when"))


def test_missing_time_column(tmp_path: Path) -> None:
    path = _write(tmp_path, _table().drop(columns="when"))
    with pytest.raises(MissingColumnError, match=r"column 'when': time column is missing"):
        load(DatasetSpec(path=path, label="label", time="when"))


def test_declared_feature_that_does_not_exist(tmp_path: Path) -> None:
    path = _write(tmp_path, _table())
    spec = DatasetSpec(path=path, label="label", time="when", features=("x", "humidity"))
    with pytest.raises(MissingColumnError, match=r"column 'humidity': declared feature"):
        load(spec)


def test_empty_data(tmp_path: Path) -> None:
    path = _write(tmp_path, _table().iloc[:0])
    with pytest.raises(EmptyDataError, match=r"data\.csv: no rows"):
        load(DatasetSpec(path=path, label="label", time="when"))


def test_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(EmptyDataError, match="no .csv or .parquet files"):
        load(DatasetSpec(path=tmp_path, label="label"))


def test_label_all_missing(tmp_path: Path) -> None:
    path = _write(tmp_path, _table().assign(label=np.nan))
    with pytest.raises(AllMissingError, match=r"column 'label': the label column has no values"):
        load(DatasetSpec(path=path, label="label", time="when"))


def test_feature_all_missing(tmp_path: Path) -> None:
    path = _write(tmp_path, _table().assign(x=np.nan))
    with pytest.raises(AllMissingError, match=r"column 'x': the feature has no values"):
        load(DatasetSpec(path=path, label="label", time="when"))


def test_unparseable_time(tmp_path: Path) -> None:
    table = _table()
    table.loc[4, "when"] = "the fifth of never"
    path = _write(tmp_path, table)
    with pytest.raises(TimeParseError, match=r"column 'when'.*'the fifth of never'"):
        load(DatasetSpec(path=path, label="label", time="when"))


def test_fewer_than_two_classes(tmp_path: Path) -> None:
    path = _write(tmp_path, _table(80).assign(label="a"))
    spec = DatasetSpec(path=path, label="label", time="when")
    with pytest.raises(TooFewClassesError, match=r"column 'label'.*two classes.*\['a'\]"):
        time_split(load(spec), spec)


def test_numeric_column_arriving_as_text(tmp_path: Path) -> None:
    table = _table().astype({"x": object})
    table.loc[2, "x"] = "12,5"
    path = _write(tmp_path, table)
    spec = DatasetSpec(path=path, label="label", time="when", numeric=("x",))
    with pytest.raises(DtypeError, match=r"column 'x': expected a numeric column.*'12,5'"):
        load(spec)


def test_numeric_column_turning_to_text_in_a_later_batch_file(tmp_path: Path) -> None:
    folder = tmp_path / "batches"
    folder.mkdir()
    table = _table()
    _write(folder, table.iloc[:6], "a.csv")
    _write(folder, table.iloc[6:].assign(x="missing"), "b.csv")
    with pytest.raises(DtypeError, match=r"b\.csv, column 'x': numeric in a\.csv"):
        load(DatasetSpec(path=folder, label="label", time="when"))


def test_failed_load_writes_nothing(tmp_path: Path) -> None:
    path = _write(tmp_path, _table().drop(columns="label"))
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(DataError):
        load(DatasetSpec(path=path, label="label"))
    assert sorted(p.name for p in tmp_path.iterdir()) == before
