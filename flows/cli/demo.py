"""`driftune demo`: the whole loop on seattle-weather, replaying 2013-2015 as arriving batches.

A first tune on 2012 makes the champion. Then each later year lands as a new file in the demo's
incoming folder; a drift check compares it with the champion's reference; drift starts a
warm-started retune, and the gate decides. Every run starts clean: the demo folder
(``.driftune/demo`` by default) is removed first, so running it twice gives the same story. Only
a folder that carries the marker file a demo writes (``.driftune-demo``) is ever removed; any
other existing path is refused, so a mistyped ``--workdir`` cannot delete a user's files.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from data.loading import load
from data.samples import sample_path
from data.schema import DatasetSpec
from flows.check_drift import DriftCheckRequest, check_drift
from flows.cli.demo_folder import MARKER, MARKER_TEXT, clear_demo_folder
from flows.config import load_config
from flows.outcomes import DriftCheckOutcome, RetuneOutcome, RetuneRefused
from flows.retune import RetuneRequest, retune
from flows.store.project import tracking_config

FIRST_YEAR, REPLAYED_YEARS = 2012, (2013, 2014, 2015)


@dataclass(frozen=True)
class DemoBudget:
    rounds: int = 3
    trials_per_round: int = 6
    max_epochs: int = 40


def write_demo_project(workdir: Path, budget: DemoBudget) -> Path:
    """A fresh project folder: config, an empty incoming folder; returns the config path."""
    clear_demo_folder(workdir)
    (workdir / "incoming").mkdir(parents=True)
    (workdir / MARKER).write_text(MARKER_TEXT)
    config = {
        "name": "seattle-weather-demo",
        "dataset": {"path": "incoming", "label": "weather", "time": "date", "every": "file"},
        # The policy is driftune's defaults; only the budget is written (tests shrink it).
        "search": {
            "rounds": budget.rounds,
            "trials_per_round": budget.trials_per_round,
            "seed": 0,
            "fixed": {"max_epochs": budget.max_epochs, "patience": 8},
        },
    }
    path = workdir / "driftune.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def land_year(workdir: Path, seattle: pd.DataFrame, year: int) -> None:
    """A new batch arrives: one calendar year of seattle-weather as its own file."""
    rows = seattle[seattle["date"].dt.year == year]
    rows.to_csv(workdir / "incoming" / f"{year}.csv", index=False)


@dataclass(frozen=True)
class DemoRow:
    """One replayed year: what the check found and what the gate decided (None: no retune)."""

    batch: str
    drifted: bool
    top_features: tuple[str, ...]
    multivariate: bool
    accuracy_drop: bool
    stale_accuracy: float | None
    baseline_accuracy: float | None
    champion_holdout: float | None
    challenger_holdout: float | None
    promoted: bool | None
    reason: str
    version: str | None


@dataclass(frozen=True)
class DemoOutcome:
    """The demo's story: the first tune, a row per replayed year, where to look, how long."""

    first: RetuneOutcome
    rows: tuple[DemoRow, ...]
    config_path: Path
    tracking_uri: str
    seconds: float


def run_demo(workdir: Path, budget: DemoBudget = DemoBudget()) -> DemoOutcome:
    """Play the story; returns the first tune, one row per replayed year, paths and timing."""
    started = time.perf_counter()
    config_path = write_demo_project(workdir, budget)
    seattle = load(
        DatasetSpec(path=sample_path("seattle-weather.csv"), label="weather", time="date")
    )
    land_year(workdir, seattle, FIRST_YEAR)
    first = retune(RetuneRequest(config_path=str(config_path), trigger="manual"))
    rows = []
    for year in REPLAYED_YEARS:
        land_year(workdir, seattle, year)
        check = check_drift(DriftCheckRequest(config_path=str(config_path)))
        rows.append(_row(year, check))
    tracking = tracking_config(load_config(config_path))
    return DemoOutcome(
        first=first,
        rows=tuple(rows),
        config_path=config_path,
        tracking_uri=tracking.tracking_uri,
        seconds=time.perf_counter() - started,
    )


def _row(year: int, check: DriftCheckOutcome) -> DemoRow:
    report = check.report
    retuned = check.retune if isinstance(check.retune, RetuneOutcome) else None
    refused = check.retune.refused if isinstance(check.retune, RetuneRefused) else None
    performance = None if report is None else report.performance
    return DemoRow(
        batch=str(year),
        drifted=check.drifted,
        top_features=tuple(() if report is None else report.drifted_features)[:3],
        multivariate=bool(report and report.multivariate and report.multivariate.drifted),
        accuracy_drop=bool(performance and performance.drifted),
        stale_accuracy=None if performance is None else performance.accuracy,
        baseline_accuracy=None if performance is None else performance.baseline_accuracy,
        champion_holdout=None if retuned is None else retuned.champion_accuracy,
        challenger_holdout=None if retuned is None else retuned.challenger_accuracy,
        promoted=None if retuned is None else retuned.promoted,
        reason=(retuned.reason if retuned else refused) or "no drift: no retune",
        version=None if retuned is None else retuned.version,
    )
