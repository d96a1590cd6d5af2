"""The training window of a retune: the newest batches, split by time, encoded, fingerprinted.

``window_trials`` serves the choice of the window's length (models/window_choice.py): what each
candidate length would have trained on to predict the newest batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from data.lineage import frame_sha256
from data.loading import Batch, batches, recent_window
from data.preprocessing import EncodedSplit, Split, encode_split, time_split
from data.schema import DEFAULT_MIN_ROWS, DatasetSpec, FeatureSet, resolve_features


@dataclass(frozen=True)
class TrainingData:
    """Everything a search and its promotion gate read, computed once per retune."""

    spec: DatasetSpec
    window: pd.DataFrame
    batch_ids: tuple[str, ...]
    split: Split
    features: FeatureSet
    encoded: EncodedSplit
    sha256: str

    @property
    def time_range(self) -> tuple[Any, Any] | None:
        if self.spec.time is None:
            return None
        times = self.window[self.spec.time]
        return times.min(), times.max()

    @property
    def reference(self) -> pd.DataFrame:
        """Train + validation rows: what a candidate learns from, the next drift baseline."""
        return pd.concat([self.split.train, self.split.validation], ignore_index=True)


def prepare_training_data(
    spec: DatasetSpec,
    *,
    periods: int,
    validation: float,
    holdout: float,
    min_rows: int = DEFAULT_MIN_ROWS,
) -> TrainingData:
    """Load the newest ``periods`` batches, split them by time and encode the features.

    Every split needs ``min_rows`` labelled rows (``window.min_rows``), checked before training.
    """
    window, batch_ids = recent_window(spec, periods)
    split = time_split(window, spec, validation=validation, holdout=holdout, min_rows=min_rows)
    features = resolve_features(spec, window)
    return TrainingData(
        spec=spec,
        window=window,
        batch_ids=tuple(batch_ids),
        split=split,
        features=features,
        encoded=encode_split(split, spec, features),
        sha256=frame_sha256(window),
    )


def window_trials(
    spec: DatasetSpec, candidates: Sequence[int | str]
) -> tuple[Batch, dict[int, pd.DataFrame]] | None:
    """What each candidate window length would have trained on to predict the newest batch.

    For each length ``k`` (a period count, or ``"all"``), the ``k`` batches before the newest
    one; lengths past the history collapse into one. None when there is no batch before it.
    """
    ordered = list(batches(spec))
    if len(ordered) < 2:
        return None
    newest, history = ordered[-1], ordered[:-1]
    frames: dict[int, pd.DataFrame] = {}
    for candidate in candidates:
        k = len(history) if candidate == "all" else min(int(candidate), len(history))
        if k not in frames:
            frames[k] = pd.concat([b.frame for b in history[-k:]], ignore_index=True)
    return newest, frames
