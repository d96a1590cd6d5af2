"""The training data of a retune: the base window's split and the candidate training windows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data.lineage import frame_sha256
from data.schema import DatasetSpec
from data.window import prepare_training_data

ROWS_PER_BATCH = 100


@pytest.fixture
def spec(tmp_path) -> DatasetSpec:  # type: ignore[no-untyped-def]
    """Five row-ordered batches of 100 rows; column ``batch`` tells each row's batch."""
    rng = np.random.default_rng(0)
    n = 5 * ROWS_PER_BATCH
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "batch": np.repeat(np.arange(5), ROWS_PER_BATCH),
            "label": rng.choice(["a", "b"], size=n),
        }
    )
    path = tmp_path / "rows.csv"
    frame.to_csv(path, index=False)
    return DatasetSpec(path=path, label="label", features=("x",), every=ROWS_PER_BATCH)


def test_without_candidates_the_base_window_is_all_there_is(spec: DatasetSpec) -> None:
    data = prepare_training_data(spec, periods=2, validation=0.2, holdout=0.2)
    assert data.windows == {}
    assert len(data.window) == 200 and len(data.split.train) == 120
    assert data.train_rows(None) is data.split.train
    assert len(data.learned_for(None)) == 200  # train + validation + holdout: the whole window
    assert data.sha256 == frame_sha256(data.window)


def test_candidates_train_on_the_newest_k_periods_before_the_shared_validation(
    spec: DatasetSpec,
) -> None:
    data = prepare_training_data(
        spec, periods=2, validation=0.2, holdout=0.2, candidates=[1, 2, 4, "all"]
    )
    # Validation and holdout are the newest 80 rows of batch 4, shared by every candidate.
    assert set(data.split.validation["batch"]) == {4} and len(data.split.holdout) == 40
    batches_of = {k: sorted(set(w.train["batch"])) for k, w in data.windows.items()}
    assert batches_of == {1: [4], 2: [3, 4], 4: [1, 2, 3, 4], 5: [0, 1, 2, 3, 4]}
    assert len(data.windows[1].train) == 20  # what batch 4 has left before validation
    assert len(data.windows[5].train) == 420
    for window in data.windows.values():  # each encoded with preprocessing fitted on its rows
        assert window.encoded.X_train.shape[0] == len(window.train)
        assert window.encoded.X_val.shape[0] == len(data.split.validation)
    # The data hash covers every row a candidate may train on, so the search key does too.
    assert data.sha256 != frame_sha256(data.window)
    assert len(data.learned_for(4)) == 400


def test_candidates_past_the_history_collapse_into_one(spec: DatasetSpec) -> None:
    data = prepare_training_data(
        spec, periods=2, validation=0.2, holdout=0.2, candidates=[4, 8, "all"]
    )
    assert sorted(data.windows) == [4, 5]
    data = prepare_training_data(spec, periods=5, validation=0.5, holdout=0.3, candidates=[1])
    # The newest batch is all validation and holdout: the candidate has no rows and is dropped.
    assert data.windows == {}
