"""Benchmark: where a default retune's wall time goes, step by step.

A project made as `driftune init --sample seattle-weather` makes it (default search: 3 rounds of
6 caviar trials, the window chosen among 1, 2, 4 and all years), tuned ``--runs`` times, each in
a fresh project folder (so each is a first tune on an empty store) against one local Prefect
server started once. Each retune's Prefect task runs are read back from the server and their
intervals grouped into steps; overlapping intervals (trials train in parallel) count once:

- ``prefect_start``: starting the local Prefect server (once, before the runs);
- ``data``: reading, splitting and encoding the window;
- ``window_choice``: fitting the fixed configuration once per candidate window (training);
- ``trials``: the search's trials (training);
- ``mlflow_logging``: the search run, its trials, datasets, profile and summary in MLflow;
- ``refit``: the winner refit for the gate, then on the whole window (training);
- ``model_logging``: logging the model and registering its version;
- ``gate``: the paired bootstrap and the alias moves;
- ``other``: the flow's wall time in no task: the lock, Prefect artifacts, orchestration.

The project's MLflow store is created before each timed retune, as a project's store exists
before any retune but its first.

Training is ``window_choice + trials + refit``; the issue's target (14) is everything else at
most 10% of a retune once the server is up. Run from the repository root (several minutes):

    .venv/bin/python bench/retune_profile.py [--runs 3]

Writes bench/results/retune_profile.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results" / "retune_profile.json"
TARGET_NON_TRAINING_SHARE = 0.10

# Prefect task names (flows/tasks.py) by step; a task run is named after its task.
STEPS = {
    "data": ("prepare-training-data",),
    "window_choice": ("choose-window-length",),
    "trials": ("train-trial", "trial", "train-round"),
    "mlflow_logging": (
        "log-trial",
        "open-search",
        "read-champion",
        "read-trials",
        "close-search",
        "end-search",
        "log-datasets",
        "save-reference-profile",
        "record-window-length",
        "describe-search-run",
    ),
    "refit": ("refit-candidate", "refit-on-window"),
    "model_logging": ("log-candidate", "register-candidate"),
    "gate": ("promotion-gate", "carry-out-verdict"),
}
TRAINING = ("window_choice", "trials", "refit")
# What was cut from the non-training time so far (issue 14), kept beside each rerun's figures.
CUT = (
    "log_trial: no get_run per trial for the experiment id (the Store knows it), and no "
    "trial-key search before the create in a search this retune opened: 7 store calls per "
    "trial become 5 (57 -> 48 ms a trial, logged alone)",
    "open_search: its tags on create_run instead of three set_tag calls; record_window's two "
    "set_tag calls one log_batch",
    "the lock's holder record deleted in one try: a busy local server's 503 made Prefect's "
    "client sleep about 2 s of most retunes before retrying the delete",
)
NOT_CUT = (
    "Prefect waits for its heartbeat thread at the flow's end (about 0.5 s, 1-s sleeps)",
    "close-search draws two matplotlib figures (0.4-0.7 s)",
    "gaps between the flow's sequential tasks (about 0.35 s) and each round's barrier",
    "trial logging competes with training for the 2 cores even where it overlaps it",
)
Interval = tuple[float, float]
PAGE = 200  # the most task runs Prefect's API returns at once


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from flows import local_server
    from flows.prefect_api import quiet_prefect_console

    with tempfile.TemporaryDirectory(prefix="driftune-profile-") as scratch:
        home = Path(scratch) / "prefect"
        started = time.perf_counter()
        state = local_server.ensure_server(home)
        prefect_start = time.perf_counter() - started
        os.environ["PREFECT_API_URL"] = state.url
        quiet_prefect_console()
        try:
            runs = [_profile_one(Path(scratch) / f"run-{i}") for i in range(args.runs)]
        finally:
            local_server.stop_server(home)
    document = _summary(runs, prefect_start)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(document, indent=2) + "\n")
    print(json.dumps(document["median_s"], indent=2))
    print(f"non-training share: {document['non_training_share_median']:.1%}")


def _profile_one(folder: Path) -> dict[str, Any]:
    """One default retune, timed as a whole and read back task by task."""
    from flows.cli.init_template import write_example
    from flows.retune import RetuneRequest, retune

    folder.mkdir(parents=True)
    config_path = folder / "driftune.yaml"
    write_example(config_path, "seattle-weather")
    _create_store(config_path)  # a retune runs on a store that exists: its tables are not timed
    started = time.perf_counter()
    state = retune(RetuneRequest(config_path=str(config_path)), return_state=True)
    wall = time.perf_counter() - started
    outcome = state.result()
    intervals = _task_intervals(str(state.state_details.flow_run_id))
    steps = {step: _union(intervals.get(step, [])) for step in STEPS}
    in_tasks = _union([i for spans in intervals.values() for i in spans])
    steps["other"] = max(wall - in_tasks, 0.0)
    unknown = sorted(name for name in intervals if name not in STEPS)
    print(f"{folder.name}: {wall:.1f} s, {outcome.trials} trials, promoted {outcome.promoted}")
    return {"wall_s": wall, "steps_s": steps, "trials": outcome.trials, "unmapped": unknown}


def _create_store(config_path: Path) -> None:
    from flows.config import load_config
    from flows.store.project import open_store

    open_store(load_config(config_path), create=True).client.search_experiments()


def _task_intervals(flow_run_id: str) -> dict[str, list[Interval]]:
    """Each finished task run's (start, end), in seconds, by the step its task belongs to."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    runs: list[Any] = []
    with get_client(sync_client=True) as client:
        while page := client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
            limit=PAGE,
            offset=len(runs),
        ):
            runs.extend(page)
    by_step: dict[str, list[Interval]] = {}
    for run in runs:
        if run.start_time is None or run.end_time is None:
            continue
        step = _step_of(run.name)
        by_step.setdefault(step, []).append((run.start_time.timestamp(), run.end_time.timestamp()))
    return by_step


def _step_of(task_run_name: str) -> str:
    """A task run is named ``<task>-<suffix>`` (or ``trial-<index>``): its step by the task."""
    base = task_run_name.rsplit("-", 1)[0]
    for step, names in STEPS.items():
        if base in names or task_run_name in names:
            return step
    return base


def _union(intervals: Iterable[Interval]) -> float:
    """Seconds covered by at least one interval: parallel trials count once."""
    total, end = 0.0, float("-inf")
    for start, stop in sorted(intervals):
        if stop <= end:
            continue
        total += stop - max(start, end)
        end = stop
    return total


def _summary(runs: Sequence[dict[str, Any]], prefect_start: float) -> dict[str, Any]:
    steps = list(runs[0]["steps_s"])
    median = {step: statistics.median(r["steps_s"][step] for r in runs) for step in steps}
    walls = [r["wall_s"] for r in runs]
    shares = [1 - sum(r["steps_s"][s] for s in TRAINING) / r["wall_s"] for r in runs]
    return {
        "what": "a default retune of seattle-weather (driftune init's config), step by step",
        "commit": _commit(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "prefect_start_s": prefect_start,
        "runs": list(runs),
        "median_s": {"wall": statistics.median(walls), **median},
        "non_training_share_median": statistics.median(shares),
        "target_non_training_share": TARGET_NON_TRAINING_SHARE,
        "met": statistics.median(shares) <= TARGET_NON_TRAINING_SHARE,
        "cut": list(CUT),
        "not_cut": list(NOT_CUT),
        "load_average_at_end": os.getloadavg(),
    }


def _commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    return done.stdout.strip()


if __name__ == "__main__":
    main()
