"""Which new batch a drift check takes: whole, newer than the champion's data, not a copy.

data/intake.py leaves files that are not whole yet for later; data/loading.py refuses (or
skips) a file with the same rows as another in the folder. What only the store knows is
decided here: a new batch whose rows are all older than the newest row the champion learned
(time going backwards), or whose rows equal a batch an earlier check took (its file since
removed, or renamed), is refused in one line naming the file, or skipped, as
``dataset.out_of_order`` and ``dataset.duplicates`` say. Either way it is never checked nor
trained on as new.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from data.errors import DataError
from data.intake import Survey
from data.loading import Batch, batches
from data.schema import DatasetSpec


class BatchRefusedError(DataError):
    """A new batch file that must not be taken: older than the champion's data, or a copy."""


@dataclass(frozen=True)
class NewBatches:
    """The batch to check, those it passes over, and those skipped or left for later, in words."""

    newest: Batch | None
    passed_over: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    waiting: tuple[str, ...] = ()


def newest_unseen(
    spec: DatasetSpec,
    sources: Survey,
    *,
    seen: set[str],
    checked_sha256: dict[str, str],
    champion_end: pd.Timestamp | None,
) -> NewBatches:
    """The newest whole batch after the latest seen one that is neither old nor a copy."""
    ordered = list(batches(spec, sources=sources))
    latest_seen = max((i for i, b in enumerate(ordered) if b.id in seen), default=-1)
    fresh, skipped = [], []
    for batch in ordered[latest_seen + 1 :]:
        problem, policy = _problem(batch, spec, checked_sha256, champion_end)
        if problem is None:
            fresh.append(batch)
        elif policy == "refuse":
            raise BatchRefusedError(problem, path=batch.source or spec.path)
        else:
            skipped.append(f"{batch.id} ({problem.split(';')[0]})")
    waiting = tuple(w.describe() for w in sources.waiting)
    if not fresh:
        return NewBatches(None, skipped=tuple(skipped), waiting=waiting)
    passed = tuple(b.id for b in fresh[:-1])
    return NewBatches(fresh[-1], passed, tuple(skipped), waiting)


def _problem(
    batch: Batch,
    spec: DatasetSpec,
    checked_sha256: dict[str, str],
    champion_end: pd.Timestamp | None,
) -> tuple[str | None, str]:
    copy_of = checked_sha256.get(batch.sha256) if batch.sha256 else None
    if copy_of is not None and copy_of != batch.id:
        return (
            f"holds the same rows as batch {copy_of}, already checked: a copy of a batch is "
            "never taken twice; remove it (or set dataset.duplicates: skip)",
            spec.duplicates,
        )
    if spec.time is None or champion_end is None or spec.time not in batch.frame:
        return None, ""
    last = batch.frame[spec.time].max()
    try:
        if pd.isna(last) or last > champion_end:
            return None, ""
    except TypeError:  # one time zone-aware, the other not: no order to judge by
        return None, ""
    first = batch.frame[spec.time].min()
    return (
        f"its rows ({first} to {last}) are not newer than the champion's data (up to "
        f"{champion_end}): time went backwards; move it out of the dataset (or set "
        "dataset.out_of_order: skip)",
        spec.out_of_order,
    )


def champion_data_end(time_end: str) -> pd.Timestamp | None:
    """The newest row time a search trained on, from its ``time_end`` tag ('' when none)."""
    if not time_end:
        return None
    try:
        return pd.Timestamp(time_end)
    except ValueError:
        return None
