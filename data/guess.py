"""A dataset section guessed from a sample of the user's data (`driftune init --from`).

Every guess carries its reason, so the config it becomes can say in comments what was guessed
and why. A label that cannot train a classifier (missing, one class, continuous numbers, an
identifier) is refused with a DataError naming the file and the column. Pure pandas: the sample
is read by data/loading.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from data.errors import AllMissingError, DataError, MissingColumnError, TooFewClassesError
from data.loading import Sample, parse_time
from data.schema import DatasetSpec, resolve_features

# Names a label column often has, tried before the last column.
LABEL_NAMES = ("label", "target", "class", "y", "outcome")
# A label with more classes than this is more likely a quantity or an identifier.
MAX_CLASSES = 100
# Calendar periods from the coarsest, with the pandas period that counts them.
PERIODS = (("YS", "Y", "a calendar year"), ("QS", "Q", "a quarter"), ("MS", "M", "a month"),
           ("W", "W", "a week"), ("D", "D", "a day"))  # fmt: skip
# A backtest tunes on the first batch and replays the rest: at least this many batches.
MIN_BATCHES = 4
# Fewest rows a batch should hold on average to be split into train, validation and holdout.
MIN_BATCH_ROWS = 100
# Without a time column: about this many batches of rows.
ROW_BATCHES = 10
TIME_HINT = re.compile(r"date|time|day|timestamp|^ds$|^dt$", re.IGNORECASE)


@dataclass(frozen=True)
class Column:
    """One feature column as the sample showed it."""

    name: str
    dtype: str
    distinct: int
    missing: float  # share of rows without a value


@dataclass(frozen=True)
class Guess:
    """A dataset section and the reasons behind each part of it."""

    label: str
    label_why: str
    classes: dict[str, float]  # each class's share of the labelled rows, largest first
    time: str | None
    time_why: str
    numeric: tuple[Column, ...]
    categorical: tuple[Column, ...]
    left_out: tuple[tuple[str, str], ...]  # (column, why)
    every: str | int
    every_why: str
    rows: int
    files_read: int
    files: int

    @property
    def smallest_class_share(self) -> float:
        return min(self.classes.values())


def guess_dataset(sample: Sample, *, label: str | None = None, time: str | None = None) -> Guess:
    """The dataset section a config for ``sample`` should start from, with reasons."""
    frame, source = sample.frame, sample.read[0].parent if sample.files > 1 else sample.read[0]
    if frame.empty:
        raise DataError("no rows to look at", path=source)
    time_column, time_why = _time_column(frame, time, source)
    label_column, label_why = _label_column(frame, label, time_column, source)
    times = None
    if time_column is not None:
        times = parse_time(frame[time_column], source=source, column=time_column)
    numeric, categorical, left_out = _features(frame, label_column, time_column)
    if not numeric and not categorical:
        raise DataError("no usable feature column besides the label and the time", path=source)
    every, every_why = _batching(sample, times)
    return Guess(
        label=label_column,
        label_why=label_why,
        classes=_class_shares(frame[label_column]),
        time=time_column,
        time_why=time_why,
        numeric=numeric,
        categorical=categorical,
        left_out=left_out,
        every=every,
        every_why=every_why,
        rows=len(frame),
        files_read=len(sample.read),
        files=sample.files,
    )


def _missing(frame: pd.DataFrame, column: str, source: object, flag: str) -> None:
    if column not in frame.columns:
        raise MissingColumnError(
            f"{flag}: no such column (columns: {', '.join(map(str, frame.columns))})",
            path=str(source),
            column=column,
        )


def _time_column(frame: pd.DataFrame, asked: str | None, source: object) -> tuple[str | None, str]:
    if asked is not None:
        _missing(frame, asked, source, "--time")
        parse_time(frame[asked], source=str(source), column=asked)  # refuses what is not dates
        return asked, "given with --time"
    found = [str(c) for c in frame.columns if _looks_like_dates(frame[c])]
    if not found:
        return None, "no column holds dates: rows are taken in file order"
    named = [c for c in found if TIME_HINT.search(c)] or found
    also = [c for c in found if c != named[0]]
    others = f" (also dates: {', '.join(also)})" if also else ""
    return named[0], f"its values parse as dates{others}"


def _looks_like_dates(series: pd.Series) -> bool:
    """Datetimes, or text whose values (a sample of 200) all parse as dates with digits in."""
    if pd.api.types.is_datetime64_any_dtype(series):
        return True
    if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        return False
    values = series.dropna().astype(str)
    if values.empty:
        return False
    probe = values.iloc[:: max(len(values) // 200, 1)]
    if not probe.str.contains(r"\d").all() or not probe.str.contains(r"[-/:T ]").all():
        return False
    if pd.to_numeric(probe, errors="coerce").notna().any():
        return False
    parsed = pd.to_datetime(probe, errors="coerce", format="mixed")
    return bool(parsed.notna().all())


def _label_column(
    frame: pd.DataFrame, asked: str | None, time: str | None, source: object
) -> tuple[str, str]:
    if asked is not None:
        _missing(frame, asked, source, "--label")
        if asked == time:
            raise DataError("--label names the time column", path=str(source), column=asked)
        _check_label(frame[asked], source, asked)
        return asked, "given with --label"
    columns = [str(c) for c in frame.columns if c != time]
    named = [c for c in columns if c.lower() in LABEL_NAMES]
    candidates = named or columns[-1:]
    for column in candidates:
        _check_label(frame[column], source, column)
        why = "its name says so" if named else "the last column"
        return column, f"{why}; pass --label COL to choose another"
    raise DataError("no column to predict: pass --label COL", path=str(source))


def _check_label(series: pd.Series, source: object, column: str) -> None:
    """One line when the column cannot be a classifier's label."""
    present = series.dropna()
    where = {"path": str(source), "column": column}
    if present.empty:
        raise AllMissingError("cannot be the label: it has no values", **where)
    distinct = present.nunique()
    if distinct < 2:
        raise TooFewClassesError(
            f"cannot be the label: one value ({_plain(present.iloc[0])!r}) in {len(present)} "
            "rows; a classifier needs two classes or more",
            **where,
        )
    if pd.api.types.is_float_dtype(present) and not (present == present.round()).all():
        example = present[present != present.round()].iloc[0]
        raise DataError(
            f"cannot be the label: continuous numbers (e.g. {_plain(example)!r}); driftune trains "
            "classifiers: bin it into classes first, or pass --label COL",
            **where,
        )
    if distinct > MAX_CLASSES:
        raise DataError(
            f"cannot be the label: {distinct} distinct values in {len(present)} rows (more than "
            f"{MAX_CLASSES} classes: a quantity or an identifier?); pass --label COL",
            **where,
        )


def _plain(value: object) -> object:
    """A numpy scalar as the Python value it holds, so messages read ``1``, not ``np.int64(1)``."""
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def _class_shares(series: pd.Series) -> dict[str, float]:
    shares = series.dropna().astype(str).value_counts(normalize=True)
    return {str(k): float(v) for k, v in shares.items()}


def _features(
    frame: pd.DataFrame, label: str, time: str | None
) -> tuple[tuple[Column, ...], tuple[Column, ...], tuple[tuple[str, str], ...]]:
    """Numeric and categorical features by dtype; columns that cannot help, left out with why."""
    left_out: list[tuple[str, str]] = []
    kept = []
    for name in (str(c) for c in frame.columns if c not in (label, time)):
        series = frame[name]
        why = _useless(series, len(frame))
        if why:
            left_out.append((name, why))
        else:
            kept.append(name)
    spec = DatasetSpec(path=Path("."), label=label, time=time, features=tuple(kept))
    kinds = resolve_features(spec, frame)
    return (
        tuple(_column(frame, name) for name in kinds.numeric),
        tuple(_column(frame, name) for name in kinds.categorical),
        tuple(left_out),
    )


def _useless(series: pd.Series, rows: int) -> str:
    present = series.dropna()
    if present.empty:
        return "no values in the sample"
    if present.nunique() == 1:
        return f"one value ({_plain(present.iloc[0])!r}) in every row"
    text = not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)
    if text and rows >= 50 and present.nunique() == rows:
        return "text with a different value in every row: an identifier, not a feature"
    return ""


def _column(frame: pd.DataFrame, name: str) -> Column:
    series = frame[name]
    return Column(name, str(series.dtype), int(series.nunique()), float(series.isna().mean()))


def _batching(sample: Sample, times: pd.Series | None) -> tuple[str | int, str]:
    if sample.files > 1:
        return "file", f"one batch per file ({sample.files} files, taken in name order)"
    rows = len(sample.frame)
    if times is not None:
        span = f"{times.min().date()} to {times.max().date()}"
        for rule, period, words in PERIODS:
            count = int(times.dt.to_period(period).nunique())
            if count >= MIN_BATCHES and rows / count >= MIN_BATCH_ROWS:
                return rule, (
                    f"one batch {words}: the dates run {span}, {count} batches of about "
                    f"{rows // count:,} rows"
                )
        reason = f"the dates run {span}, too short for {MIN_BATCHES} periods of "
        reason += f"{MIN_BATCH_ROWS}+ rows"
    else:
        reason = "no time column"
    size = _round_down(max(rows // ROW_BATCHES, MIN_BATCH_ROWS))
    return size, f"{reason}: one batch every {size:,} rows ({-(-rows // size)} batches)"


def _round_down(n: int) -> int:
    """To two significant digits: 1,815 -> 1,800."""
    scale = 10 ** max(len(str(n)) - 2, 0)
    return max(int(n // scale * scale), 1)
