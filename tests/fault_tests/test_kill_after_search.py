"""A retune SIGKILLed after its search, at each step, resumes that step when run again.

Each case copies the module's project (tuned once: champion version 1), lands a new batch, runs
a real `driftune tune` subprocess that kills itself with SIGKILL at a named point
(flows/failpoints.py), then runs `driftune tune` again in this process and checks what the
store holds: one search (never a second), its trials once each, one version for it, one audit
record of its verdict, and the aliases where that verdict puts them.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from flows.config import load_config
from flows.store.project import open_store
from flows.store.registry import champion, list_audit
from flows.store.tracking import all_runs, ensure_experiment
from tests.fault_tests.processes import cli_env, invoke, run
from tests.fault_tests.project_copies import copy_project
from tests.flow_tests.projects import TINY_SEARCH, batch, land, make_project

pytestmark = pytest.mark.slow
BUDGET = TINY_SEARCH["rounds"] * TINY_SEARCH["trials_per_round"]
POINTS = (
    "after-search",
    "after-judge",
    "after-log-model",
    "after-register",
    "mid-alias-move",
    "after-alias-move",
)


def _killed(config: Path, api: str, failpoint: str, *command: str) -> None:
    """`driftune COMMAND` as a process that SIGKILLs itself at ``failpoint``."""
    env = cli_env(api, DRIFTUNE_FAILPOINT=failpoint)
    killed = run(*(command or ("tune",)), "-c", str(config), env=env)
    assert killed.returncode == -signal.SIGKILL, killed.stdout[-2000:] + killed.stderr[-2000:]


def _searches(config: Path) -> list[Any]:
    store = open_store(load_config(config))
    client = store.client
    experiment = ensure_experiment(store, "search")
    return all_runs(client, [experiment], "tags.`driftune.kind` = 'search'")


@pytest.fixture(scope="module")
def tuned(
    tmp_path_factory: pytest.TempPathFactory, template_store: Path, prefect_server: None
) -> Path:
    """The module's project, tuned once on batch a: champion version 1. Tests use copies."""
    root = tmp_path_factory.mktemp("tuned") / "project"
    config = make_project(root, template_store)
    land(root, "a-2024-01", batch(np.random.default_rng(0), "2024-01-01"))
    code, output = invoke("tune", "-c", str(config))
    assert code == 0, output
    return root


@pytest.fixture
def project(tuned: Path, tmp_path: Path) -> Path:
    """A copy of the tuned project with batch b landed: the next tune judges b."""
    config = copy_project(tuned, tmp_path / "project")
    land(config.parent, "b-2024-02", batch(np.random.default_rng(1), "2024-02-01", shift=1.5))
    return config


@pytest.mark.parametrize("point", POINTS)
def test_a_kill_after_the_search_resumes_the_step_it_was_in(
    project: Path, point: str, prefect_api_url: str
) -> None:
    _killed(project, prefect_api_url, point)
    code, output = invoke("tune", "-c", str(project))
    assert code == 0, output
    assert "Traceback" not in output
    assert "already running" not in output  # the dead holder's lock was taken over

    searches = _searches(project)
    assert len(searches) == 2  # the first tune's and this one's: the rerun searched no more
    search = max(searches, key=lambda run: run.info.start_time)
    assert search.info.status == "FINISHED"
    store = open_store(load_config(project))
    client = store.client
    experiment = ensure_experiment(store, "search")
    trials = all_runs(client, [experiment], f"tags.mlflow.parentRunId = '{search.info.run_id}'")
    assert len(trials) == BUDGET
    assert len({run.data.tags["trial_key"] for run in trials}) == BUDGET
    versions = client.search_model_versions(f"name = '{store.name}'")
    mine = [v for v in versions if v.run_id == search.info.run_id]
    assert len(mine) == 1 and len(versions) == 2
    version = str(mine[0].version)
    events = [r for r in list_audit(store) if r.event_id == f"gate-{search.info.run_id}"]
    assert len(events) == 1 and events[0].version == version
    info = champion(store)
    assert info is not None
    if events[0].event == "promote":
        assert info.version == version and info.previous_version == "1"
    else:
        assert info.version == "1"
    model = client.get_registered_model(store.name)
    assert "driftune.promotion_pending" not in model.tags


def test_a_check_drift_killed_in_its_retune_is_resumed_by_the_next_check(
    tuned: Path, tmp_path: Path, prefect_api_url: str
) -> None:
    """The batch counts as checked once logged: only the pending retune brings the retune back."""
    config = copy_project(tuned, tmp_path / "project")
    raw = yaml.safe_load(config.read_text())
    config.write_text(yaml.safe_dump({**raw, "drift": {"accuracy_drop": False}}))
    land(config.parent, "b-2024-02", batch(np.random.default_rng(1), "2024-02-01", shift=3.0))
    _killed(config, prefect_api_url, "after-register", "check-drift")
    code, output = invoke("check-drift", "-c", str(config))
    assert code == 0, output
    assert "resumed the retune" in output
    store = open_store(load_config(config))
    client = store.client
    monitoring = ensure_experiment(store, "monitoring")
    (check,) = all_runs(client, [monitoring], "")
    assert check.data.tags["retune_outcome"].startswith(("promoted", "refused"))
    drift_searches = [r for r in _searches(config) if r.data.tags["trigger"] == "drift"]
    assert len(drift_searches) == 1 and drift_searches[0].info.status == "FINISHED"
    assert len(client.search_model_versions(f"name = '{store.name}'")) == 2
    # Once its outcome is recorded, the check is done: a third check finds nothing new.
    code, output = invoke("check-drift", "-c", str(config))
    assert code == 0 and "nothing new" in output, output


def test_a_step_that_fails_after_the_search_is_named_and_resumed_when_fixed(
    project: Path,
) -> None:
    """The champion cannot be verified at the gate: one line names the step; nothing moves."""
    store = open_store(load_config(project))
    client = store.client
    recorded = client.get_model_version(store.name, "1").tags["sha256.network.json"]
    client.set_model_version_tag(store.name, "1", "sha256.network.json", "0" * 64)
    code, output = invoke("tune", "-c", str(project))
    lines = [line for line in output.splitlines() if line.strip()]
    assert code == 1, output
    assert any("stopped at the promotion gate" in line for line in lines), lines
    assert any("a rerun resumes at this step" in line for line in lines), lines
    assert len(client.search_model_versions(f"name = '{store.name}'")) == 1
    assert champion(store).version == "1"  # type: ignore[union-attr]
    search = max(_searches(project), key=lambda run: run.info.start_time)
    assert search.info.status == "RUNNING"  # open, for the rerun to resume
    client.set_model_version_tag(store.name, "1", "sha256.network.json", recorded)
    code, output = invoke("tune", "-c", str(project))
    assert code == 0, output
    assert len(_searches(project)) == 2  # the rerun finished that search: no third one
