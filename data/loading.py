"""The core's one reader of files: CSV or Parquet, one file or a folder of batch files.

Loading validates against the spec and raises a DataError naming file, column and problem. It never
writes anything, so a failed load leaves every store and earlier run untouched.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from data.errors import (
    DataError,
    DtypeError,
    DuplicateColumnError,
    EmptyDataError,
    MissingFileError,
    TimeParseError,
)
from data.intake import Survey, is_hidden, survey
from data.lineage import frame_sha256
from data.schema import DatasetSpec, validate_frame

READERS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Batch:
    """One time-ordered slice of a dataset; ``id`` is stable across runs (period start or range).

    ``source`` is the file a batch by file came from (None for a period or a row range), and
    ``sha256`` the hash of its rows, so a copy of it under another name is known.
    """

    id: str
    frame: pd.DataFrame
    source: Path | None = field(default=None, compare=False)
    sha256: str = field(default="", compare=False)


def read_table(path: str | Path) -> pd.DataFrame:
    """Read one CSV or Parquet file; a DataError when it is missing, unknown or unreadable.

    A header that names one column twice is refused here, the one place that sees it: pandas
    reads a CSV's second ``wind`` as ``wind.1``, which would then train as a feature of its own.
    """
    path = Path(path)
    kind = _checked_kind(path)
    with _one_line_errors(path):
        return pd.read_csv(path) if kind == "csv" else pd.read_parquet(path)


def read_chunks(path: str | Path, rows: int = 100_000) -> Iterator[pd.DataFrame]:
    """One CSV or Parquet file in pieces of at most ``rows`` rows, for memory that stays flat.

    The same checks and one-line refusals as ``read_table``; a problem found in a later piece
    (a row that does not parse) is refused when that piece is read. The pieces' index counts
    the file's data rows from 0. Parquet is read by record batches within its row groups; CSV
    by pandas' chunked reader, each piece's dtypes inferred from its own rows.
    """
    path = Path(path)
    return _pieces(path, _checked_kind(path), rows)  # checked now, read as the pieces are taken


def _pieces(path: Path, kind: str, rows: int) -> Iterator[pd.DataFrame]:
    with _one_line_errors(path):
        if kind == "csv":
            with pd.read_csv(path, chunksize=rows) as reader:
                yield from reader
            return
        start = 0
        for record_batch in pq.ParquetFile(path).iter_batches(batch_size=rows):
            piece = record_batch.to_pandas()
            piece.index = pd.RangeIndex(start, start + len(piece))
            start += len(piece)
            yield piece


def _checked_kind(path: Path) -> str:
    """What ``read_table`` checks before reading rows: the file exists, is of a known type,
    is not empty, and its header names each column once."""
    if not path.is_file():
        raise MissingFileError("no such file", path=path)
    kind = READERS.get(path.suffix.lower())
    if kind is None:
        raise DataError(f"unsupported file type {path.suffix!r} (use .csv or .parquet)", path=path)
    with _one_line_errors(path):
        if path.stat().st_size == 0:
            raise EmptyDataError("the file is empty", path=path)
        _refuse_duplicate_names(_header(path, kind), path)
    return kind


@contextmanager
def _one_line_errors(path: Path) -> Iterator[None]:
    """A reader's error as one DataError naming the file, whatever the reader's message was."""
    try:
        yield
    except UnicodeDecodeError as error:
        byte = error.object[error.start : error.start + 1].hex()
        raise DataError(f"not UTF-8 text (byte 0x{byte}): save it as UTF-8", path=path) from error
    except (OSError, ValueError, pd.errors.ParserError) as error:
        problem = " ".join(str(error).split())
        raise DataError(f"cannot read the file: {problem}", path=path) from error


def _header(path: Path, kind: str) -> list[str]:
    """The column names as the file spells them, before pandas makes them unique."""
    if kind == "parquet":
        return [str(name) for name in pq.read_schema(path).names]
    first = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False)
    return [str(name) for name in first.iloc[0].tolist()] if len(first) else []


def _refuse_duplicate_names(header: list[str], path: Path) -> None:
    named = [name for name in header if name]  # unnamed columns get distinct names anyway
    repeated = [name for name in dict.fromkeys(named) if named.count(name) > 1]
    if repeated:
        others = f" (and {len(repeated) - 1} more repeated name(s))" if len(repeated) > 1 else ""
        raise DuplicateColumnError(
            f"the header names this column {named.count(repeated[0])} times{others}: "
            "rename or drop the copies",
            path=path,
            column=repeated[0],
        )


def list_sources(path: Path) -> list[Path]:
    """The data files behind a spec's path: the file itself, or a folder's files in name order.

    A folder's dot-files and names with another suffix (``b.csv.tmp``) are not data.
    """
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise MissingFileError("no such file or folder", path=path)
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in READERS and not is_hidden(p))
    if not files:
        raise EmptyDataError("the folder holds no .csv or .parquet files", path=path)
    return files


@dataclass(frozen=True)
class Sample:
    """A look at a dataset before there is a spec: some of its files, joined, and how many."""

    frame: pd.DataFrame
    read: tuple[Path, ...]
    files: int


def read_sample(path: Path, *, max_files: int = 4) -> Sample:
    """A file whole, or a folder's first ``max_files - 1`` files and its last, joined.

    For ``driftune init --from``: enough rows to see every column's dtype and, for one file, the
    whole time span. No spec is checked here: the caller is guessing one.
    """
    sources = list_sources(path)
    chosen = sources if len(sources) <= max_files else [*sources[: max_files - 1], sources[-1]]
    frames = [read_table(source) for source in chosen]
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    return Sample(frame=frame, read=tuple(chosen), files=len(sources))


def survey_sources(spec: DatasetSpec) -> Survey:
    """The dataset's files that are whole now, and those left for later (data/intake.py).

    A dataset whose every file must wait cannot be used at all: that is one DataError naming
    the first file and why.
    """
    found = survey(list_sources(spec.path), settle_s=spec.settle_s, marker=spec.marker)
    if not found.ready:
        first = found.waiting[0]
        raise DataError(f"not whole yet: {first.reason}", path=first.path)
    for waiting in found.waiting:
        _log.warning("batch file %s is left for later: %s", waiting.path, waiting.reason)
    return found


def load(
    spec: DatasetSpec, *, require_label: bool = True, sources: Survey | None = None
) -> pd.DataFrame:
    """Read, validate and time-order the whole dataset; the time column comes back as datetimes.

    Only whole files are read (``sources``, else surveyed now), each distinct content once.
    """
    files = list((sources or survey_sources(spec)).ready)
    frames = [_read_valid(source, spec, require_label) for source in files]
    files, frames, _ = _distinct(files, frames, spec)
    return _time_ordered(_concat(frames, files, spec), spec)


def _distinct(
    files: list[Path], frames: list[pd.DataFrame], spec: DatasetSpec
) -> tuple[list[Path], list[pd.DataFrame], list[str]]:
    """Each file whose rows another file before it already holds is a copy: refused, or left out.

    Returns the files and frames kept and each kept frame's SHA-256.
    """
    seen: dict[str, Path] = {}
    kept: list[tuple[Path, pd.DataFrame, str]] = []
    for source, frame in zip(files, frames, strict=True):
        digest = frame_sha256(frame)
        first = seen.setdefault(digest, source)
        if first == source:
            kept.append((source, frame, digest))
            continue
        problem = f"holds the same rows as {first.name}: a copy of a batch is never taken twice"
        if spec.duplicates == "refuse":
            raise DataError(f"{problem}; remove it (or set dataset.duplicates: skip)", path=source)
        _log.warning("file %s %s; skipped", source, problem)
    return [k[0] for k in kept], [k[1] for k in kept], [k[2] for k in kept]


def _read_valid(source: Path, spec: DatasetSpec, require_label: bool) -> pd.DataFrame:
    frame = read_table(source)
    validate_frame(frame, spec, source, require_label=require_label)
    if spec.time is not None:  # parsed per file, so a bad date names the file it is in
        frame[spec.time] = parse_time(frame[spec.time], source=source, column=spec.time)
    return frame


def _time_ordered(frame: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    if spec.time is not None:
        frame[spec.time] = parse_time(frame[spec.time], source=spec.path, column=spec.time)
        frame = frame.sort_values(spec.time, kind="stable")
    return frame.reset_index(drop=True)


def parse_time(values: pd.Series, *, source: str | Path, column: str) -> pd.Series:
    """Dates as datetime64; a TimeParseError quoting the first value that is not a date."""
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values
    else:
        parsed = pd.to_datetime(values, errors="coerce", format="mixed")
    bad = values[parsed.isna() & values.notna()]
    if len(bad):
        row = values.index.get_loc(bad.index[0])
        where = f" in data row {row + 1}" if isinstance(row, int) else ""
        raise TimeParseError(
            f"cannot parse {len(bad)} value(s) as dates, e.g. {bad.iloc[0]!r}{where}",
            path=source,
            column=column,
        )
    if parsed.isna().all():
        raise TimeParseError("the time column has no values", path=source, column=column)
    return parsed


def batches(
    spec: DatasetSpec, every: str | int | None = None, *, sources: Survey | None = None
) -> Iterator[Batch]:
    """Time-ordered batches: by calendar period ("YS", "MS", "W"), by row count, or by file.

    Only whole files count (``sources``, else surveyed now), each distinct content once.
    """
    rule = every if every is not None else spec.every
    if rule is None:
        raise DataError("no batch rule: give every= or set it on the spec", path=spec.path)
    sources = sources or survey_sources(spec)
    if rule == "file":
        files = list(sources.ready)
        frames = [_read_valid(source, spec, True) for source in files]
        files, frames, hashes = _distinct(files, frames, spec)
        _check_kinds(frames, files, spec)
        for source, frame, digest in zip(files, frames, hashes, strict=True):
            yield Batch(source.name, _time_ordered(frame, spec), source, digest)
        return
    frame = load(spec, sources=sources)
    if isinstance(rule, int):
        for start in range(0, len(frame), rule):
            stop = min(start + rule, len(frame))
            yield Batch(id=f"rows-{start}-{stop}", frame=frame.iloc[start:stop])
    else:
        yield from _batches_by_period(frame, spec, rule)


def recent_window(spec: DatasetSpec, periods: int) -> tuple[pd.DataFrame, list[str]]:
    """The newest ``periods`` batches joined, time-ordered, with their batch ids."""
    if periods < 1:
        raise DataError(f"the training window needs at least one period, got {periods}")
    newest = list(batches(spec))[-periods:]
    frame = pd.concat([b.frame for b in newest], ignore_index=True)
    return frame, [b.id for b in newest]


def _batches_by_period(frame: pd.DataFrame, spec: DatasetSpec, rule: str) -> Iterator[Batch]:
    if spec.time is None:
        raise DataError(
            f"batching by calendar period {rule!r} needs a time column; give a row count instead",
            path=spec.path,
        )
    try:
        groups = frame.groupby(pd.Grouper(key=spec.time, freq=rule), sort=True)
    except ValueError as error:
        raise DataError(f"unknown batch period {rule!r}: {error}", path=spec.path) from error
    for start, group in groups:
        if len(group):
            period_start = pd.Timestamp(start)  # type: ignore[arg-type]
            yield Batch(id=period_start.date().isoformat(), frame=group.reset_index(drop=True))


def _concat(frames: list[pd.DataFrame], sources: list[Path], spec: DatasetSpec) -> pd.DataFrame:
    _check_kinds(frames, sources, spec)
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def _check_kinds(frames: list[pd.DataFrame], sources: list[Path], spec: DatasetSpec) -> None:
    """A column with numbers in one file and text in another means bad input, in either order.

    Joined, the two would read as text and train as a category. A column declared categorical,
    or left out of declared features, may hold anything; an empty one says nothing of its kind.
    """
    numeric_in: dict[str, Path] = {}
    for frame, source in zip(frames, sources, strict=True):
        for column in frame.columns:
            if _holds_numbers(frame[column]):
                numeric_in.setdefault(str(column), source)
    skipped = set(spec.categorical or ()) | {spec.time}
    used = None if spec.features is None else {*spec.features, spec.label}
    for frame, source in zip(frames, sources, strict=True):
        for column in frame.columns:
            first = numeric_in.get(str(column))
            series = frame[column]
            if first is None or column in skipped or series.isna().all():
                continue
            if used is not None and column not in used:
                continue  # a column the model never reads may hold anything
            if not _holds_numbers(series):
                raise DtypeError(
                    f"numeric in {first.name} but text here{_example_text(series)}: fix the "
                    "values, or declare the column in dataset.categorical if it is a category",
                    path=source,
                    column=str(column),
                )


def _holds_numbers(series: pd.Series) -> bool:
    return (
        pd.api.types.is_numeric_dtype(series)
        and not pd.api.types.is_bool_dtype(series)
        and bool(series.notna().any())
    )


def _example_text(series: pd.Series) -> str:
    present = series.reset_index(drop=True)
    bad = present[pd.to_numeric(present, errors="coerce").isna() & present.notna()]
    return f" (e.g. {bad.iloc[0]!r} in data row {bad.index[0] + 1})" if len(bad) else ""
