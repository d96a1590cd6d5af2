"""Multi-fidelity caviar through a real retune: early rounds on a sample of the rows and fewer
epochs, the last on all of them, each trial's fidelity in MLflow; small windows untouched."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from flows.config import load_config
from flows.retune import RetuneRequest, retune
from flows.store.project import open_store
from flows.store.tracking import all_runs, ensure_experiment
from flows.store.trials import find_logged_trials
from tests.flow_tests.projects import batch, land, make_project

pytestmark = pytest.mark.usefixtures("prefect_server")

# 240 rows a batch: 120 train, 60 validate, 60 judge the promotion.
SEARCH = {
    "rounds": 3,
    "trials_per_round": 2,
    "top_k": 1,
    "seed": 0,
    "fixed": {"max_epochs": 8, "patience": None, "n_layers": 1, "batch_size": 32},
}
TRAIN_ROWS = 120


def _trial_runs(config_path: Path, search_run_id: str) -> list:  # type: ignore[type-arg]
    store = open_store(load_config(config_path))
    experiment = ensure_experiment(store, "search")
    runs = all_runs(store.client, [experiment], f"tags.mlflow.parentRunId = '{search_run_id}'")
    return sorted(runs, key=lambda r: int(r.data.tags["trial_index"]))


@pytest.mark.parametrize("fused", [False, True], ids=["threaded", "fused"])
def test_early_rounds_train_on_fewer_rows_and_epochs_and_the_last_on_all(
    fused: bool, tmp_path: Path, template_store: Path
) -> None:
    fidelity = {"min_rows": 40, "reduction_factor": 2, "epoch_factor": 2}
    search = {**SEARCH, "fused": fused, "fidelity": fidelity}
    config_path = make_project(tmp_path, template_store, search=search)
    land(tmp_path, "a-2024-01", batch(np.random.default_rng(0), "2024-01-01"))
    summary = retune(RetuneRequest(config_path=str(config_path)))
    assert summary.trials == 6 and summary.promoted
    runs = _trial_runs(config_path, summary.search_run_id)
    # Round r of 3 sees 120 / 2**(3 - r) rows (at least 40) for 8 / 2**(3 - r) epochs.
    expected = {"1": ("40", "2"), "2": ("60", "4"), "3": ("120", "8")}
    for run in runs:
        rows, epochs = expected[run.data.tags["round"]]
        assert (run.data.params["fidelity_rows"], run.data.params["fidelity_epochs"]) == (
            rows,
            epochs,
        )
        assert (run.data.tags["fidelity_rows"], run.data.tags["fidelity_epochs"]) == (rows, epochs)
    store = open_store(load_config(config_path))
    logged = find_logged_trials(store.client, summary.search_run_id)
    for trial in logged.values():
        # Trained no further than its budget; validated on the whole validation slice.
        budget = int(expected[str(trial.round)][1])
        assert trial.metrics["epochs"] <= budget
        assert trial.predictions is not None and len(trial.predictions) == 60
        # The record keeps the configuration, which the refit trains at full fidelity.
        assert trial.settings["max_epochs"] == 8


def test_a_window_below_min_rows_keeps_the_full_search_to_the_digit(
    tmp_path: Path, template_store: Path
) -> None:
    """The default fidelity on a small window trains the same trials to the same numbers as
    no fidelity at all (today's search)."""
    logged = {}
    for name, fidelity in (("default", {}), ("off", {"fidelity": None})):
        root = tmp_path / name
        config_path = make_project(root, template_store, search={**SEARCH, **fidelity})
        land(root, "a-2024-01", batch(np.random.default_rng(0), "2024-01-01"))
        summary = retune(RetuneRequest(config_path=str(config_path)))
        store = open_store(load_config(config_path))
        logged[name] = find_logged_trials(store.client, summary.search_run_id)
        if name == "default":
            runs = _trial_runs(config_path, summary.search_run_id)
            assert {r.data.params["fidelity_rows"] for r in runs} == {str(TRAIN_ROWS)}
            assert {r.data.params["fidelity_epochs"] for r in runs} == {"8"}
    default, off = logged["default"], logged["off"]
    assert sorted(default) == sorted(off) == list(range(6))
    for index, trial in default.items():
        other = off[index]
        assert (trial.params, trial.seed, trial.status) == (other.params, other.seed, other.status)
        assert trial.metrics["val_accuracy"] == other.metrics["val_accuracy"]
        assert trial.metrics["val_log_loss"] == other.metrics["val_log_loss"]
        assert trial.curves["val_loss"] == other.curves["val_loss"]
        assert np.array_equal(trial.predictions, other.predictions)  # type: ignore[arg-type]
