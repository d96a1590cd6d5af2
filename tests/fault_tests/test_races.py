"""Two `driftune check-drift` processes at once: the batch is checked once and retuned once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from flows.config import load_config
from flows.failpoints import paused_at, release
from flows.store.project import open_store
from flows.store.tracking import all_runs, ensure_experiment
from tests.fault_tests.processes import cli_env, invoke, start, wait_for
from tests.flow_tests.projects import batch, land, make_project

pytestmark = pytest.mark.slow


def test_two_checks_at_once_log_one_check_and_start_one_retune(
    tmp_path: Path, template_store: Path, prefect_api_url: str
) -> None:
    config = make_project(tmp_path, template_store, drift={"accuracy_drop": False})
    land(tmp_path, "a-2024-01", batch(np.random.default_rng(0), "2024-01-01"))
    code, output = invoke("tune", "-c", str(config))
    assert code == 0, output
    land(tmp_path, "b-2024-02", batch(np.random.default_rng(1), "2024-02-01", shift=3.0))
    # A barrier: each racer stops after finding batch b unchecked, and both go on together
    # once both are there, so both try to log a check of it.
    barrier = tmp_path / "barrier"
    paused = cli_env(prefect_api_url, DRIFTUNE_FAILPOINT=f"before-log-check=pause:{barrier}")
    racers = [start("check-drift", "-c", str(config), env=paused) for _ in range(2)]
    try:
        wait_for(
            lambda: paused_at(barrier) == 2 or any(r.poll() is not None for r in racers),
            600,
            "both checks at the barrier",
        )
    finally:
        release(barrier)
    outputs = [racer.communicate(timeout=600) for racer in racers]
    assert paused_at(barrier) == 2, outputs
    codes = [racer.returncode for racer in racers]
    assert codes == [0, 0], outputs
    store = open_store(load_config(config))
    client = store.client
    monitoring = ensure_experiment(store, "monitoring")
    checks = all_runs(client, [monitoring], "tags.batch_id = 'b-2024-02.csv'")
    assert len(checks) == 1 and checks[0].info.status == "FINISHED"
    assert checks[0].data.tags["verdict"] == "drift"
    search = ensure_experiment(store, "search")
    drift_searches = all_runs(client, [search], "tags.trigger = 'drift'")
    assert len(drift_searches) == 1
    assert drift_searches[0].data.tags["drift_run_id"] == checks[0].info.run_id
