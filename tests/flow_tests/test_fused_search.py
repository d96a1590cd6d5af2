"""A retune with fused rounds and successive halving, against real Prefect and MLflow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from flows.config import load_config
from flows.retune import RetuneRequest, retune
from flows.store.project import open_store
from flows.store.tracking import all_runs, ensure_experiment
from flows.store.trials import find_logged_trials
from tests.flow_tests.projects import batch, land, make_project

pytestmark = pytest.mark.usefixtures("prefect_server")

FUSED = {
    "rounds": 2,
    "trials_per_round": 4,
    "top_k": 1,
    "seed": 0,
    "fixed": {"max_epochs": 8, "patience": None, "n_layers": 1, "batch_size": 32},
    "fused": True,
    "pruning": {"enabled": True, "min_epochs": 2, "reduction_factor": 2},
}


def test_a_fused_pruned_search_logs_every_trial_and_promotes_a_full_one(
    tmp_path: Path, template_store: Path
) -> None:
    config_path = make_project(tmp_path, template_store, search=FUSED)
    land(tmp_path, "a-2024-01", batch(np.random.default_rng(0), "2024-01-01"))
    state = retune(RetuneRequest(config_path=str(config_path)), return_state=True)
    summary = state.result()
    # 4 live at epoch 2: 2 go on; at epoch 4 one; per round, 3 pruned and one trained out.
    assert (summary.trials, summary.ok, summary.pruned) == (8, 2, 6)
    assert summary.promoted and summary.version == "1"
    store = open_store(load_config(config_path))
    experiment = ensure_experiment(store, "search")
    runs = all_runs(
        store.client, [experiment], f"tags.mlflow.parentRunId = '{summary.search_run_id}'"
    )
    assert len(runs) == 8
    pruned = [r for r in runs if r.data.tags["trial_status"] == "pruned"]
    assert len(pruned) == 6 and all(r.info.status == "FINISHED" for r in pruned)
    assert all("ranked" in r.data.tags["pruned_reason"] for r in pruned)
    assert all("failure_reason" not in r.data.tags for r in pruned)
    for run in pruned:  # the curves so far, and a score: the best epoch's
        history = store.client.get_metric_history(run.info.run_id, "val_loss")
        assert len(history) in (2, 4)  # one point per epoch trained before its rung
        assert 0 <= run.data.metrics["val_accuracy"] <= 1
    # The trial records come back whole (what a resumed search reads), pruned ones included.
    logged = find_logged_trials(store.client, summary.search_run_id)
    assert sorted(r.status for r in logged.values()) == ["ok"] * 2 + ["pruned"] * 6
    search = store.client.get_run(summary.search_run_id)
    assert search.data.metrics["n_pruned"] == 6
    # The winner trained out its epochs: a pruned trial is never the one refit and promoted.
    assert logged[int(search.data.tags["best_trial_index"])].status == "ok"
    with get_client(sync_client=True) as prefect:  # one Prefect task per round, no per-trial ones
        flow_run = FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
        names = [t.name for t in prefect.read_task_runs(flow_run_filter=flow_run)]
    assert sum(name.startswith("train-round") for name in names) == 2
    assert not any(name.startswith("trial-") for name in names)
