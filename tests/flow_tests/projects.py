"""Small real projects for flow tests: batch files on disk, a config, a migrated store."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

TINY_SEARCH = {
    "rounds": 2,
    "trials_per_round": 2,
    "top_k": 1,
    "seed": 0,
    "fixed": {"max_epochs": 6, "patience": 3},
}


def batch(
    rng: np.random.Generator, start: str, n: int = 240, shift: float = 0.0, flip: bool = False
) -> pd.DataFrame:
    """A two-class batch; ``shift`` moves x1's distribution (and the boundary with it).

    ``flip`` swaps the labels and leaves the features alone: concept drift that only the
    champion's accuracy can reveal.
    """
    x1 = rng.normal(shift, 1.0, n)
    x2 = rng.normal(0.0, 1.0, n)
    colour = rng.choice(["red", "green", "blue"], n)
    above = x1 + x2 + (colour == "red") * 0.5 > shift
    label = np.where(above != flip, "yes", "no")
    return pd.DataFrame(
        {
            "when": pd.date_range(start, periods=n, freq="h"),
            "x1": x1,
            "x2": x2,
            "colour": colour,
            "label": label,
        }
    )


def make_project(
    root: Path,
    template_db: Path | None = None,
    *,
    search: dict[str, Any] | None = None,
    drift: dict[str, Any] | None = None,
) -> Path:
    """A project folder with an empty incoming/ folder; returns its config path."""
    (root / "incoming").mkdir(parents=True, exist_ok=True)
    config = {
        "name": "toy",
        # Files are written whole before each command here: no settle time (data/intake.py).
        "dataset": {
            "path": "incoming",
            "label": "label",
            "time": "when",
            "every": "file",
            "settle_s": 0,
        },
        "window": {"periods": 1, "validation": 0.25, "holdout": 0.25},
        "search": search or TINY_SEARCH,
        "promotion": {"n_boot": 500},
        **({"drift": drift} if drift else {}),
    }
    path = root / "driftune.yaml"
    path.write_text(yaml.safe_dump(config))
    if template_db is not None:
        (root / ".driftune").mkdir(exist_ok=True)
        shutil.copyfile(template_db, root / ".driftune" / "mlflow.db")
    return path


def land(root: Path, name: str, frame: pd.DataFrame) -> None:
    frame.to_csv(root / "incoming" / f"{name}.csv", index=False)
