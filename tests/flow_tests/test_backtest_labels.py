"""The backtest names a calendar period's batch by the data's own first timestamp."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from data.loading import batches
from flows.backtest import batch_label
from flows.config import load_config


def _config(root: Path, every: str | int, times: list[str]) -> Path:
    frame = pd.DataFrame(
        {"when": times, "x": range(len(times)), "y": ["a", "b"] * (len(times) // 2)}
    )
    frame.to_csv(root / "rows.csv", index=False)
    config = {
        "name": "labels",
        "dataset": {"path": "rows.csv", "label": "y", "time": "when", "every": every},
    }
    (root / "driftune.yaml").write_text(yaml.safe_dump(config))
    return root / "driftune.yaml"


def test_a_yearly_batch_of_july_rows_is_labelled_july_not_january(tmp_path: Path) -> None:
    days = ["2016-07-01", "2016-07-01", "2017-07-01", "2017-07-01"]
    config = load_config(_config(tmp_path, "YS", days))
    ordered = list(batches(config.spec()))
    assert [b.id for b in ordered] == ["2016-01-01", "2017-01-01"]  # the period's start
    assert [batch_label(b, config) for b in ordered] == ["2016-07-01", "2017-07-01"]


def test_hours_keep_their_time_and_row_batches_keep_their_id(tmp_path: Path) -> None:
    hours = ["2024-03-01 06:00", "2024-03-01 07:00", "2024-04-02 00:00", "2024-04-03 00:00"]
    config = load_config(_config(tmp_path, "MS", hours))
    assert [batch_label(b, config) for b in batches(config.spec())] == [
        "2024-03-01 06:00:00",
        "2024-04-02",
    ]
    rows = load_config(_config(tmp_path, 2, hours))
    assert [batch_label(b, rows) for b in batches(rows.spec())] == ["rows-0-2", "rows-2-4"]
