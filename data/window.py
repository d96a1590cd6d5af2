"""The training data of a retune: the newest batches, split by time, encoded, fingerprinted.

The base window is the newest ``periods`` batches; its newest rows are the holdout and the rows
before them the validation set, shared by every trial. With window ``candidates`` the search
also tunes how much history a trial trains on: candidate ``k`` trains on the newest ``k``
periods (fewer or more than the base window; ``"all"`` for every batch), minus the shared
validation and holdout rows. A candidate left with no training rows, or with rows of a single
class, is dropped; two candidates with the same rows are one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from data.lineage import frame_sha256
from data.loading import Batch, batches
from data.preprocessing import EncodedSplit, Split, encode_split, time_split
from data.schema import DatasetSpec, FeatureSet, resolve_features

WindowCandidate = int | str  # a period count, or "all"


@dataclass(frozen=True)
class TrainingWindow:
    """One candidate's training rows and their encoding (the validation rows are shared)."""

    periods: int
    train: pd.DataFrame
    encoded: EncodedSplit


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
    windows: Mapping[int, TrainingWindow] = field(default_factory=dict)

    @property
    def time_range(self) -> tuple[Any, Any] | None:
        if self.spec.time is None:
            return None
        times = self.window[self.spec.time]
        return times.min(), times.max()

    @property
    def reference(self) -> pd.DataFrame:
        """Train + validation rows of the base window."""
        return self.reference_for(None)

    def train_rows(self, periods: int | None) -> pd.DataFrame:
        """The training rows of candidate ``periods`` (None: the base window's)."""
        return self.split.train if periods is None else self.windows[periods].train

    def reference_for(self, periods: int | None) -> pd.DataFrame:
        """What a judged candidate learns from: its training rows and the validation rows."""
        return pd.concat([self.train_rows(periods), self.split.validation], ignore_index=True)

    def learned_for(self, periods: int | None) -> pd.DataFrame:
        """What a promoted candidate learns from: its training rows, validation and holdout."""
        return pd.concat([self.reference_for(periods), self.split.holdout], ignore_index=True)

    def encoded_for(self, periods: int | None) -> EncodedSplit:
        return self.encoded if periods is None else self.windows[periods].encoded


def prepare_training_data(
    spec: DatasetSpec,
    *,
    periods: int,
    validation: float,
    holdout: float,
    candidates: Sequence[WindowCandidate] = (),
) -> TrainingData:
    """Load the batches, split the newest ``periods`` by time and encode their features."""
    ordered = list(batches(spec))
    newest = ordered[-periods:]
    window = pd.concat([b.frame for b in newest], ignore_index=True)
    split = time_split(window, spec, validation=validation, holdout=holdout)
    features = resolve_features(spec, window)
    windows = _candidate_windows(ordered, newest, split, candidates, spec, features)
    longest = max((w.periods for w in windows.values()), default=0)
    history = [b.frame for b in ordered[-max(longest, periods) :]]
    return TrainingData(
        spec=spec,
        window=window,
        batch_ids=tuple(b.id for b in newest),
        split=split,
        features=features,
        encoded=encode_split(split, spec, features),
        sha256=frame_sha256(pd.concat(history, ignore_index=True)),
        windows=windows,
    )


def _candidate_windows(
    ordered: list[Batch],
    newest: list[Batch],
    split: Split,
    candidates: Sequence[WindowCandidate],
    spec: DatasetSpec,
    features: FeatureSet,
) -> dict[int, TrainingWindow]:
    """Each distinct candidate's training rows, encoded with preprocessing fitted on them."""
    windows: dict[int, TrainingWindow] = {}
    for candidate in candidates:
        k = len(ordered) if candidate == "all" else min(int(candidate), len(ordered))
        train = _training_rows(ordered, newest, split.train, k)
        if k in windows or train[spec.label].dropna().nunique() < 2:
            continue
        rows = Split(train=train, validation=split.validation, holdout=split.holdout)
        windows[k] = TrainingWindow(k, train, encode_split(rows, spec, features))
    return windows


def _training_rows(
    ordered: list[Batch], newest: list[Batch], base_train: pd.DataFrame, k: int
) -> pd.DataFrame:
    """The newest ``k`` periods' rows before the validation rows."""
    if k >= len(newest):
        older = [b.frame for b in ordered[len(ordered) - k : len(ordered) - len(newest)]]
        return pd.concat([*older, base_train], ignore_index=True)
    # base_train keeps its positions in the base window, so each row's batch is known.
    first_kept = int(np.sum([len(b.frame) for b in newest[: len(newest) - k]]))
    return base_train[base_train.index >= first_kept].reset_index(drop=True)
