"""`driftune predict`: score a file with the champion, keeping the input's columns.

The input is read and scored in pieces (``data.loading.read_chunks``) and each scored piece is
appended to a temporary file beside the output, renamed over it only once every row is scored:
memory stays flat whatever the input's size, and a refusal halfway leaves no half-written output
(an existing one, with ``--overwrite``, stays as it was).
"""

from __future__ import annotations

import os
import uuid
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from data.contract import InputReport
from data.errors import DataError, EmptyDataError
from data.loading import read_chunks
from data.schema import check_feature_values
from flows.config import load_config
from flows.store.packaging import Scorer
from flows.store.project import open_store
from flows.store.registry import load_champion_model

# Rows a piece. The process holds ~500 MB before the first row (torch, MLflow, the champion);
# pieces of 20,000 rows keep its peak within ~50 MB of that whatever the input's size, as fast
# as larger pieces (writing the CSV dominates), while 100,000-row pieces let the heap grow by
# ~200 MB over the first few (bench/predict_memory.py).
CHUNK_ROWS = 20_000


@dataclass(frozen=True)
class Scored:
    """What `predict` wrote: rows, and what the champion's contract counted (None: none)."""

    rows: int
    output: Path
    report: InputReport | None


def score_file(
    config_path: Path,
    source: Path,
    target: Path,
    *,
    overwrite: bool = False,
    strict: bool = False,
    chunk_rows: int = CHUNK_ROWS,
) -> Scored:
    """Write the input's rows with ``prediction`` and ``proba_<class>`` columns.

    ``strict`` refuses an input with values outside the champion's data contract (unseen
    categories, missing values where training had none, numbers outside the training range),
    and an input to a champion that has no contract to check against.
    """
    if target.suffix.lower() not in (".csv", ".parquet"):
        raise DataError("the output must end in .csv or .parquet", path=target)
    config = load_config(config_path)
    check_output(source, target, config.dataset.path, overwrite=overwrite)
    pieces = read_chunks(source, chunk_rows)
    model = load_champion_model(open_store(config))
    if strict and model.contract is None:
        raise DataError(
            "the champion has no data contract to check the input against (it was registered "
            "before driftune recorded one): retune, or predict without --strict",
            path=source,
        )
    report: InputReport | None = InputReport() if model.contract is not None else None
    rows = 0
    with _Output(target) as output:
        for piece in pieces:
            if piece.empty:
                continue
            features, found = _conformed(model, piece, source, rows)
            if found is not None and report is not None:
                report = report.merged(found)
                if strict:
                    found.refuse(source)
            scored = model.score_conformed(features)
            output.write(pd.concat([piece, scored], axis=1))
            rows += len(piece)
        if not rows:
            raise EmptyDataError("no rows to score", path=source)
    return Scored(rows, target, report)


def _conformed(
    model: Scorer, piece: pd.DataFrame, source: Path, before: int
) -> tuple[pd.DataFrame, InputReport | None]:
    """The piece's features as the champion learned them; the same checks training makes."""
    features, found = model.conform(piece, source=source, first_row=before + 1)
    if model.contract is None:  # a version from before contracts: scored as read
        check_feature_values(piece, model.features, source=source)
    return features, found


class _Output:
    """A CSV or Parquet file written piece by piece under a temporary name, renamed at the end."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self._writer: pq.ParquetWriter | None = None
        self._started = False

    def __enter__(self) -> _Output:
        self.target.parent.mkdir(parents=True, exist_ok=True)
        # A name of its own, made by the writers below with the user's umask (mkstemp's 0600
        # would end up on the output).
        unique = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._temporary = self.target.with_name(f".{self.target.name}.{unique}.part")
        self._file: Any = None
        return self

    def write(self, frame: pd.DataFrame) -> None:
        if self.target.suffix.lower() == ".csv":
            if self._file is None:
                self._file = self._temporary.open("w", newline="")
            frame.to_csv(self._file, index=False, header=not self._started)
        else:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self._writer is None:
                self._writer = pq.ParquetWriter(self._temporary, table.schema)
            self._writer.write_table(_as_schema(table, self._writer.schema, self.target))
        self._started = True

    def __exit__(self, kind: type[BaseException] | None, *_: Any) -> None:
        try:
            if self._file is not None:
                self._file.close()
            if self._writer is not None:
                self._writer.close()
            if kind is None:
                os.replace(self._temporary, self.target)
        finally:
            with suppress(FileNotFoundError):
                self._temporary.unlink()


def _as_schema(table: pa.Table, schema: pa.Schema, target: Path) -> pa.Table:
    """A later piece in the first piece's column types (a CSV piece may infer others)."""
    if table.schema.equals(schema, check_metadata=False):
        return table
    columns = []
    for field in schema:
        column = table.column(field.name)
        if column.type != field.type:
            try:
                column = column.cast(field.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
                raise DataError(
                    f"column {field.name!r} changes type between pieces of the input "
                    f"({field.type} then {column.type}): write the output as .csv instead",
                    path=target,
                ) from error
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=schema)


def input_findings(report: InputReport | None, source: Path) -> list[str]:
    """What `predict` tells on stderr about the input against the champion's data contract."""
    if report is None:
        return [
            f"note: the champion has no data contract (it was registered before driftune "
            f"recorded one): {source} was scored as read, unchecked for unseen values"
        ]
    findings = report.findings()
    if not findings:
        return []
    head = (
        f"warning: {source} holds values outside the champion's data contract, scored anyway "
        "(--strict refuses them):"
    )
    return [head, *(f"  {line}" for line in findings)]


def check_output(source: Path, target: Path, dataset: Path, *, overwrite: bool) -> None:
    """Refuse an output that is the input, lies in the dataset, or exists (unless ``overwrite``).

    Scores written into the dataset would be trained on by the next tune (its ``prediction`` and
    ``proba_*`` columns as features), so no flag allows that.
    """
    if _same_file(source, target):
        raise DataError(
            "the output is the input file: write the scores to another file", path=target
        )
    data, written = dataset.resolve(), target.resolve()
    if written == data or data in written.parents:
        raise DataError(
            f"the output lies in the dataset {dataset}: the next tune would train on the scores",
            path=target,
        )
    if target.is_dir():
        raise DataError("the output is a folder: name a .csv or .parquet file", path=target)
    if (target.exists() or target.is_symlink()) and not overwrite:
        raise DataError("the output exists already: pass --overwrite to replace it", path=target)


def _same_file(source: Path, target: Path) -> bool:
    """Same path after resolving links, or the same file under two names (a hard link)."""
    if source.resolve() == target.resolve():
        return True
    return source.exists() and target.exists() and os.path.samefile(source, target)
