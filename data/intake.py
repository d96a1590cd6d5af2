"""Which batch files are whole: the intake rules, told per file, before any table is read.

A batch file is taken only when it is whole, and a writer cannot say so except by how it
writes. So a file is left for a later command, with the reason, when:

- its dataset names a ``marker`` suffix and the writer's marker file (``b.csv.ok`` beside
  ``b.csv``) is not there yet;
- it is a CSV whose last line has no end (cut inside a row, or still being written);
- it is a Parquet file whose footer is not there (Parquet writes its footer last);
- it changed within the last ``settle_s`` seconds and its size or modification time still
  changes while it is watched that long.

Files whose names start with a dot, and names ending in ``.tmp`` (or any suffix but .csv and
.parquet), are never batches: a writer may write ``b.csv.tmp`` and rename it to ``b.csv``
(a rename is atomic), the one convention that needs no settle time at all. This module only
looks at files' sizes, times and last bytes (data/loading.py reads the tables); nothing in
watchdog-style libraries answers "is this file finished", so it is written here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

PARQUET_MAGIC = b"PAR1"


@dataclass(frozen=True)
class Waiting:
    """A batch file left for later, and why, in words a user acts on."""

    path: Path
    reason: str

    def describe(self) -> str:
        return f"{self.path.name} ({self.reason})"


@dataclass(frozen=True)
class Survey:
    """The dataset's files split into those taken now and those left for a later command."""

    ready: tuple[Path, ...]
    waiting: tuple[Waiting, ...] = ()


def survey(files: list[Path], *, settle_s: float, marker: str | None) -> Survey:
    """Which of ``files`` are whole now; a file still changing is watched ``settle_s`` at most."""
    waiting: dict[Path, str] = {}
    for path in files:
        reason = _incomplete(path, marker)
        if reason is not None:
            waiting[path] = reason
    for path, reason in _unsettled([p for p in files if p not in waiting], settle_s).items():
        waiting[path] = reason
    return Survey(
        ready=tuple(p for p in files if p not in waiting),
        waiting=tuple(Waiting(p, waiting[p]) for p in files if p in waiting),
    )


def _incomplete(path: Path, marker: str | None) -> str | None:
    if marker and not path.with_name(path.name + marker).exists():
        return f"its marker {path.name + marker} is not there yet"
    size = path.stat().st_size
    if size == 0:
        return None  # an empty file is refused by the reader, naming it
    suffix = path.suffix.lower()
    with path.open("rb") as handle:
        if suffix == ".csv":
            handle.seek(size - 1)
            if handle.read(1) != b"\n":
                return (
                    "its last line has no end: cut, or still being written; a writer that "
                    "is done ends it with a newline"
                )
            return None
        if handle.read(4) != PARQUET_MAGIC:
            return None  # no Parquet file at all: the reader refuses it, naming it
        handle.seek(max(4, size - 4))
        if size < 12 or handle.read(4) != PARQUET_MAGIC:
            return "its Parquet footer is not written yet"
    try:
        pq.read_metadata(path)
    except (OSError, ValueError) as error:
        return f"its Parquet footer does not read ({' '.join(str(error).split())})"
    return None


def _unsettled(files: list[Path], settle_s: float) -> dict[Path, str]:
    """Files changed within ``settle_s`` that change again while watched for ``settle_s``."""
    if settle_s <= 0:
        return {}
    now = time.time()
    first = {path: _stamp(path) for path in files}
    recent = {path: stamp for path, stamp in first.items() if now - stamp[1] / 1e9 < settle_s}
    if not recent:
        return {}
    newest = max(stamp[1] for stamp in recent.values()) / 1e9
    time.sleep(max(0.0, min(settle_s, newest + settle_s - time.time())))
    return {
        path: f"still being written: it changed within the last {settle_s:g} s"
        for path, stamp in recent.items()
        if _stamp(path) != stamp
    }


def _stamp(path: Path) -> tuple[int, int]:
    try:
        status = path.stat()
    except FileNotFoundError:
        return (-1, -1)
    return status.st_size, status.st_mtime_ns


def is_hidden(path: Path) -> bool:
    """A dot-file (an editor's or a writer's scratch copy) is never a batch."""
    return path.name.startswith(".")
