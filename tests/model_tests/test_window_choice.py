"""The window length: the candidate that best predicted the newest batch from the ones before."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data.preprocessing import encode_train_test
from data.schema import DatasetSpec, resolve_features
from data.window import window_trials
from models.window_choice import choose_window

SETTINGS = {"max_epochs": 15, "patience": None, "random_state": 0, "n_threads": 1}


def _stream(tmp_path, flip_from: int):  # type: ignore[no-untyped-def]
    """Six batches of 200 rows; the label's rule flips from batch ``flip_from`` on."""
    rng = np.random.default_rng(0)
    frames = []
    for index in range(6):
        x = rng.normal(size=(200, 2))
        label = (x[:, 0] + 0.3 * x[:, 1] > 0) != (index >= flip_from)
        frames.append(pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "label": label.astype(int)}))
    path = tmp_path / "stream.csv"
    pd.concat(frames, ignore_index=True).to_csv(path, index=False)
    return DatasetSpec(path=path, label="label", every=200)


def _choice(spec: DatasetSpec, candidates):  # type: ignore[no-untyped-def]
    trials = window_trials(spec, candidates)
    assert trials is not None
    newest, frames = trials
    features = resolve_features(spec, newest.frame)
    rows = {k: encode_train_test(f, newest.frame, spec, features) for k, f in frames.items()}
    return choose_window(rows, SETTINGS), frames


def test_after_a_change_the_short_window_that_saw_only_the_new_rule_wins(tmp_path) -> None:  # type: ignore[no-untyped-def]
    choice, frames = _choice(_stream(tmp_path, flip_from=4), [1, 2, 4, "all"])
    assert sorted(frames) == [1, 2, 4, 5]  # "all" is the five batches before the newest
    assert [len(frames[k]) for k in (1, 2, 4, 5)] == [200, 400, 800, 1000]
    assert choice.periods == 1  # batch 4 alone follows the rule batch 5 follows
    assert choice.accuracy[1] > 0.9 > 0.6 > choice.accuracy[5]
    assert "1 period(s)" in choice.describe()


def test_on_a_stable_stream_no_window_is_far_behind(tmp_path) -> None:  # type: ignore[no-untyped-def]
    choice, _ = _choice(_stream(tmp_path, flip_from=99), [1, 4])
    assert min(choice.accuracy.values()) > 0.9
    assert choice.periods in (1, 4)


def test_ties_go_to_the_fresher_window() -> None:
    X = np.tile(np.array([[0.0], [1.0]], dtype=np.float32), (20, 1))
    y = np.tile(np.array([0, 1]), 20)
    same = (X, y, X, y)
    choice = choose_window({3: same, 1: same, 2: same}, SETTINGS)
    assert choice.periods == 1 and set(choice.accuracy) == {1, 2, 3}


def test_no_history_no_choice(tmp_path) -> None:  # type: ignore[no-untyped-def]
    spec = _stream(tmp_path, flip_from=99)
    one_batch = DatasetSpec(path=spec.path, label="label", every=5000)
    assert window_trials(one_batch, [1, 2]) is None
    with pytest.raises(ValueError, match="at least one"):
        choose_window({}, SETTINGS)
