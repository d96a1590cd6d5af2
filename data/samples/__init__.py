"""The shipped sample datasets (data files beside this module; see README.md for attribution)."""

from __future__ import annotations

from pathlib import Path

SAMPLES_DIR = Path(__file__).resolve().parent


def sample_path(name: str) -> Path:
    """Path of a shipped sample, e.g. ``sample_path("seattle-weather.csv")``."""
    path = SAMPLES_DIR / name
    if not path.is_file():
        available = ", ".join(sorted(p.name for p in SAMPLES_DIR.glob("*.csv")))
        raise FileNotFoundError(f"no sample {name!r}; available: {available}")
    return path
