"""Two `driftune check-drift` processes at once: the batch is checked once and retuned once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from flows.config import load_config
from flows.store.project import open_store
from flows.store.tracking import all_runs, ensure_experiment
from tests.fault_tests.processes import cli_env, run, start
from tests.flow_tests.projects import batch, land, make_project

pytestmark = pytest.mark.slow


def test_two_checks_at_once_log_one_check_and_start_one_retune(
    tmp_path: Path, prefect_api_url: str
) -> None:
    config = make_project(tmp_path, drift={"accuracy_drop": False})
    land(tmp_path, "a-2024-01", batch(np.random.default_rng(0), "2024-01-01"))
    env = cli_env(prefect_api_url)
    assert run("tune", "-c", str(config), env=env).returncode == 0
    land(tmp_path, "b-2024-02", batch(np.random.default_rng(1), "2024-02-01", shift=3.0))
    # Each pauses after finding batch b unchecked, so both go on to log a check of it.
    paused = {**env, "DRIFTUNE_FAILPOINT": "before-log-check=sleep:12"}
    racers = [start("check-drift", "-c", str(config), env=paused) for _ in range(2)]
    outputs = [racer.communicate(timeout=600) for racer in racers]
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
