"""The training window of a retune: the newest batches, split by time, encoded, fingerprinted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from data.lineage import frame_sha256
from data.loading import recent_window
from data.preprocessing import (
    DEFAULT_MIN_ROWS,
    EncodedSplit,
    Split,
    encode_split,
    time_split,
)
from data.schema import DatasetSpec, FeatureSet, resolve_features


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
