"""`driftune predict`: score a file with the champion, keeping the input's columns."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from data.errors import DataError
from data.loading import read_table
from data.schema import check_scoring_frame
from flows.config import load_config
from flows.store.project import open_store
from flows.store.registry import load_champion_model


def score_file(config_path: Path, source: Path, target: Path, *, overwrite: bool = False) -> int:
    """Write the input's rows with ``prediction`` and ``proba_<class>`` columns; returns rows."""
    if target.suffix.lower() not in (".csv", ".parquet"):
        raise DataError("the output must end in .csv or .parquet", path=target)
    config = load_config(config_path)
    check_output(source, target, config.dataset.path, overwrite=overwrite)
    frame = read_table(source)
    if frame.empty:
        raise DataError("no rows to score", path=source)
    model = load_champion_model(open_store(config))
    check_scoring_frame(frame, model.features, source=source)
    scored = model.predict(frame)
    out = pd.concat([frame, scored.set_index(frame.index)], axis=1)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.suffix.lower() == ".csv":
        out.to_csv(target, index=False)
    else:
        out.to_parquet(target, index=False)
    return len(out)


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
