"""caviar's trials fanned out over a real Dask cluster (worker processes) via prefect-dask."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml

from flows.config import load_config
from flows.retune import RetuneRequest, retune
from flows.store.project import open_store
from flows.store.trials import find_logged_trials
from tests.flow_tests.projects import TINY_SEARCH, batch, land, make_project

distributed = pytest.importorskip("distributed")
pytest.importorskip("prefect_dask")


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    local = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    yield local.scheduler_address
    local.close()


@pytest.mark.slow
def test_retune_trains_its_trials_on_dask_workers(
    cluster: str, tmp_path: Path, template_store: Path, prefect_server: None
) -> None:
    config_path = make_project(tmp_path, template_store)
    raw = yaml.safe_load(config_path.read_text())
    raw["runner"] = {"kind": "dask", "dask_address": cluster, "max_workers": 2}
    config_path.write_text(yaml.safe_dump(raw))
    land(tmp_path, "a", batch(np.random.default_rng(0), "2024-01-01"))
    summary = retune(RetuneRequest(config_path=str(config_path)))
    budget = TINY_SEARCH["rounds"] * TINY_SEARCH["trials_per_round"]
    assert summary.trials == budget and summary.ok == budget
    assert summary.promoted
    with distributed.Client(cluster) as client:  # the work really went to the cluster
        assert any(
            "train-trial" in str(key) or "safe_train" in str(key)
            for key in client.run_on_scheduler(_task_prefixes)
        )


def _task_prefixes(dask_scheduler: object) -> list[str]:
    return list(getattr(dask_scheduler, "task_prefixes", {}))


@pytest.mark.slow
def test_a_multi_fidelity_search_trains_each_round_at_its_fidelity_on_dask_workers(
    cluster: str, tmp_path: Path, template_store: Path, prefect_server: None
) -> None:
    """The round's train function is built in the flow and shipped to the workers: round 1's
    trials train on half of the 120 training rows for half the epochs, round 2's on all."""
    fidelity = {"min_rows": 40, "reduction_factor": 2, "epoch_factor": 2}
    config_path = make_project(
        tmp_path, template_store, search={**TINY_SEARCH, "fidelity": fidelity}
    )
    raw = yaml.safe_load(config_path.read_text())
    raw["runner"] = {"kind": "dask", "dask_address": cluster, "max_workers": 2}
    config_path.write_text(yaml.safe_dump(raw))
    land(tmp_path, "a", batch(np.random.default_rng(0), "2024-01-01"))
    summary = retune(RetuneRequest(config_path=str(config_path)))
    assert summary.ok == 4 and summary.promoted
    store = open_store(load_config(config_path))
    logged = find_logged_trials(store.client, summary.search_run_id)
    fidelities = sorted(
        (t.round, t.extras["fidelity"]["rows"], t.extras["fidelity"]["epochs"])
        for t in logged.values()
    )
    assert fidelities == [(1, 60, 3), (1, 60, 3), (2, 120, 6), (2, 120, 6)]
