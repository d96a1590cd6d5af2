"""SIGKILL a real `driftune tune` mid-search: the rerun is let in at once and resumes the search.

The tune kills itself right after its first trial is logged (the ``after-trial`` failpoint), so
the kill lands mid-search with the tiny search every time; a kill timed from outside needed
trials slow enough to aim at. The rerun runs in this process: nothing kills it.

Before the lock knew its holder, every rerun was refused for the 300 s the dead holder's lease
lasted, and the killed flow run stayed RUNNING in Prefect for good.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest

from tests.fault_tests.processes import (
    cli_env,
    finished_trials,
    flow_runs_of,
    invoke,
    search_runs,
    start,
    trained_trials,
    trial_runs,
)
from tests.flow_tests.projects import TINY_SEARCH, batch, land, make_project

BUDGET = TINY_SEARCH["rounds"] * TINY_SEARCH["trials_per_round"]


@pytest.mark.slow
def test_a_killed_tune_is_let_in_again_at_once_and_resumes(
    tmp_path: Path, template_store: Path, prefect_api_url: str
) -> None:
    config = make_project(tmp_path, template_store)
    land(tmp_path, "a-2024-01", batch(np.random.default_rng(0), "2024-01-01"))

    env = cli_env(prefect_api_url, DRIFTUNE_FAILPOINT="after-trial")
    killed = start("tune", "--config", str(config), env=env)
    out, err = killed.communicate(timeout=600)
    assert killed.returncode == -signal.SIGKILL, out[-2000:] + err[-2000:]
    logged = {run.info.run_id: int(run.data.tags["trial_index"]) for run in finished_trials(config)}
    assert 0 < len(logged) < BUDGET, f"the kill should land mid-search ({len(logged)} logged)"

    # No wait for the lock is configured (runner.wait_for_lock_s 0): a refused rerun fails at once.
    code, output = invoke("tune", "--config", str(config))
    assert code == 0, output
    assert "already running" not in output
    assert "(resumed)" in output

    (search,) = search_runs(config)
    assert search.info.status == "FINISHED"
    trials = trial_runs(config)
    indices = sorted(int(r.data.tags["trial_index"]) for r in trials)
    assert indices == list(range(BUDGET)), "each trial exactly once: none lost, none twice"
    assert set(logged) <= {r.info.run_id for r in trials}, "a logged trial was logged again"
    # The rerun trained only what the killed run had not logged: its own train-trial task runs.
    rerun = flow_runs_of(config, os.getpid())
    assert len(rerun) == 1, rerun
    missing = sorted(set(range(BUDGET)) - set(logged.values()))
    assert trained_trials([rerun[0].id]) == missing

    dead = flow_runs_of(config, killed.pid)
    assert dead, "the killed process's flow run carries its owner tag"
    assert all(run.state_type is not None and run.state_type.value == "CRASHED" for run in dead)
