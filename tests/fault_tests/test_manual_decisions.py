"""A person's promote or rollback made while a retune runs is never undone by that retune.

A real `driftune tune` is held at a failpoint (flows/failpoints.py) while the test runs
`driftune promote` by hand; then the retune goes on. Before, its gate moved the alias anyway:
the person was told "version 1 is the champion" and 14 s later it was not. Now the gate sees
that the champion changed under it, refuses, and says so in the audit trail. Held after the
search (before the gate judges) and after registration (the gate decided, the alias not yet
moved): both ends of the window in which a person can act.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from flows.config import load_config
from flows.failpoints import paused_at, release
from flows.store.project import open_store
from flows.store.registry import champion, list_audit
from tests.fault_tests.processes import cli_env, invoke, start, wait_for
from tests.fault_tests.project_copies import copy_project
from tests.flow_tests.projects import batch, land, make_project

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_versions(
    tmp_path_factory: pytest.TempPathFactory, template_store: Path, prefect_server: None
) -> Path:
    """A project tuned on batch a, then on batch b: two versions, one of them the champion."""
    root = tmp_path_factory.mktemp("two") / "project"
    config = make_project(root, template_store)
    land(root, "a-2024-01", batch(np.random.default_rng(0), "2024-01-01"))
    assert invoke("tune", "-c", str(config))[0] == 0
    land(root, "b-2024-02", batch(np.random.default_rng(1), "2024-02-01", shift=1.0))
    assert invoke("tune", "-c", str(config))[0] == 0
    return root


@pytest.mark.parametrize("point", ["after-search", "after-register"])
def test_a_promote_during_a_retune_holds(
    two_versions: Path, tmp_path: Path, prefect_api_url: str, point: str
) -> None:
    config = copy_project(two_versions, tmp_path / "project")
    store = open_store(load_config(config))
    before = champion(store)
    assert before is not None
    chosen = "1" if before.version == "2" else "2"
    # Labels flipped: the champion is wrong on nearly every row, so the gate alone promotes.
    land(config.parent, "c-2024-03", batch(np.random.default_rng(2), "2024-03-01", flip=True))

    hold = tmp_path / "hold"
    env = cli_env(prefect_api_url, DRIFTUNE_FAILPOINT=f"{point}=pause:{hold}")
    retune = start("tune", "-c", str(config), env=env)
    try:
        wait_for(
            lambda: paused_at(hold) == 1 or retune.poll() is not None, 600, f"the retune at {point}"
        )
        code, told = invoke("promote", chosen, "--reason", "a person's choice", "-c", str(config))
        assert code == 0 and f"version {chosen} is the champion" in told, told
    finally:
        release(hold)
    out, err = retune.communicate(timeout=600)
    assert retune.returncode == 0, out + err

    after = champion(open_store(load_config(config)))
    assert after is not None and after.version == chosen, "the person's choice was undone"
    events = list_audit(open_store(load_config(config)))
    assert [e.event for e in events[-2:]] == ["promote", "refuse"], events
    manual, gate = events[-2:]
    assert manual.version == chosen and manual.reason == "a person's choice"
    assert gate.version == "3" and "the champion changed while this retune ran" in gate.reason
    assert gate.previous == chosen
