"""`driftune predict`: score a file with the champion, keeping the input's columns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from data.errors import DataError
from data.loading import read_table
from data.schema import FeatureSet, check_scoring_frame
from flows.config import load_config
from flows.project import open_store
from flows.registry import load_champion_model


def score_file(config_path: Path, source: Path, target: Path) -> int:
    """Write the input's rows with ``prediction`` and ``proba_<class>`` columns; returns rows."""
    if target.suffix.lower() not in (".csv", ".parquet"):
        raise DataError("the output must end in .csv or .parquet", path=target)
    frame = read_table(source)
    if frame.empty:
        raise DataError("no rows to score", path=source)
    tracking, client = open_store(load_config(config_path))
    model = load_champion_model(client, tracking)
    check_scoring_frame(frame, _features(model), source=source)
    scored = model.predict(frame)
    out = pd.concat([frame, scored.set_index(frame.index)], axis=1)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.suffix.lower() == ".csv":
        out.to_csv(target, index=False)
    else:
        out.to_parquet(target, index=False)
    return len(out)


def _features(model: Any) -> FeatureSet:
    """The champion's feature columns: a Scorer names them; a pyfunc model wraps a Scorer."""
    scorer = model if isinstance(getattr(model, "features", None), FeatureSet) else None
    if scorer is None:
        scorer = model.unwrap_python_model()._scorer
    features: FeatureSet = scorer.features
    return features
