"""SIGKILL a real `driftune tune` mid-search: the rerun is let in at once and resumes the search.

Before the lock knew its holder, every rerun was refused for the 300 s the dead holder's lease
lasted, and the killed flow run stayed RUNNING in Prefect for good.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

from flows.run_owner import Owner, project_tag
from tests.fault_tests.processes import (
    SLOW_SEARCH,
    cli_env,
    finished_trials,
    run,
    search_runs,
    start,
    trial_runs,
    wait_for,
)
from tests.flow_tests.projects import batch, land, make_project

SEARCH = SLOW_SEARCH
BUDGET = SEARCH["rounds"] * SEARCH["trials_per_round"]


@pytest.mark.slow
def test_a_killed_tune_is_let_in_again_at_once_and_resumes(
    tmp_path: Path, prefect_api_url: str
) -> None:
    config = make_project(tmp_path, search=SEARCH)
    land(tmp_path, "a-2024-01", batch(np.random.default_rng(0), "2024-01-01", n=3000))
    env = cli_env(prefect_api_url)

    first = start("tune", "--config", str(config), env=env)
    wait_for(lambda: finished_trials(config) or first.poll() is not None, 600, "a logged trial")
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    killed_at = time.monotonic()
    logged = len(finished_trials(config))
    assert 0 < logged < BUDGET, f"the kill should land mid-search ({logged} of {BUDGET} logged)"

    # No wait for the lock is configured (runner.wait_for_lock_s 0): a refused rerun fails at once.
    rerun = run("tune", "--config", str(config), env=env)
    assert time.monotonic() - killed_at < 600
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "already running" not in rerun.stdout
    assert "(resumed)" in rerun.stdout

    (search,) = search_runs(config)
    assert search.info.status == "FINISHED"
    indices = sorted(int(r.data.tags["trial_index"]) for r in trial_runs(config))
    assert indices == list(range(BUDGET)), "each trial exactly once: none lost, none twice"

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[project_tag("toy")]))
        )
    killed = [run for run in runs if _owned_by(run.tags, first.pid)]
    assert killed, "the killed process's flow run carries its owner tag"
    assert all(run.state_type is not None and run.state_type.value == "CRASHED" for run in killed)


def _owned_by(tags: list[str], pid: int) -> bool:
    return any((owner := Owner.from_tag(tag)) is not None and owner.pid == pid for tag in tags)
