"""A retune's caviar trials fanned out over the session's Dask cluster: two worker processes."""

from __future__ import annotations

import json
import time
from pathlib import Path

import distributed
import pytest

from tests.flow_tests.projects import TINY_SEARCH
from tests.server_tests.conftest import Team
from tests.server_tests.projects import team_project
from tests.server_tests.services import driftune, said

pytestmark = [pytest.mark.servers, pytest.mark.slow]

# Four trials a round: each of the two single-thread workers gets some of every round.
SEARCH = {**TINY_SEARCH, "trials_per_round": 4}


def test_a_retune_trains_its_trials_on_both_dask_workers(team: Team, tmp_path: Path) -> None:
    runner = {"kind": "dask", "dask_address": team.dask_address, "max_workers": 2}
    config = team_project(tmp_path, "dasky", search=SEARCH, runner=runner)
    began = time.time()
    done = driftune("tune", "-c", str(config), "--json", env=team.cli_env())
    assert done.returncode == 0, said(done)
    summary = json.loads(done.stdout)["retune"]
    budget = SEARCH["rounds"] * SEARCH["trials_per_round"]
    assert summary["trials"] == budget and summary["ok"] == budget, summary

    # The scheduler's task stream (recording since the session started the cluster): which
    # worker ran each task in the time of this retune.
    with distributed.Client(team.dask_address, timeout=10) as client:
        names = {
            address: info["name"]
            for address, info in client.scheduler_info(n_workers=-1)["workers"].items()
        }
        records = client.get_task_stream(start=began)
    trials = [r for r in records if "train" in str(r["key"]) and r.get("status") == "OK"]
    keys = sorted({str(r["key"]).rsplit("-", 1)[0] for r in records})
    assert len(trials) == budget, (len(trials), keys)
    ran_on = [names.get(r["worker"], r["worker"]) for r in trials]
    assert sorted(set(ran_on)) == sorted(team.dask_workers), ran_on
