"""`--json`: each command's stdout is one JSON document and nothing else, errors included.

Run as real `driftune` processes, so whatever Prefect, MLflow or the progress bars write
would land on the stdout under test.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.fault_tests.processes import cli_env, run
from tests.flow_tests.projects import batch, land, make_project


def _json(*args: str, api: str, code: int = 0) -> dict[str, Any]:
    done = run(*args, "--json", env=cli_env(api))
    assert done.returncode == code, done.stdout[-2000:] + done.stderr[-2000:]
    document: dict[str, Any] = json.loads(done.stdout)  # the whole of stdout, or it raises
    return document


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, template_store: Path) -> Path:
    root = tmp_path_factory.mktemp("json-project")
    config = make_project(root, template_store)
    land(root, "a-2024-01", batch(np.random.default_rng(0), "2024-01-01"))
    return config


def test_tune_check_drift_and_status_print_one_document(
    project: Path, prefect_api_url: str
) -> None:
    tuned = _json("tune", "-c", str(project), api=prefect_api_url)
    assert tuned["retune"]["promoted"] is True and tuned["retune"]["version"] == "1"
    assert tuned["note"] is None

    land(project.parent, "b-2024-02", batch(np.random.default_rng(1), "2024-02-01", shift=2.0))
    args = ("check-drift", "-c", str(project), "--no-retune", "--exit-code")
    checked = _json(*args, api=prefect_api_url, code=3)["check"]
    assert checked["drifted"] is True and checked["batch_id"] == "b-2024-02.csv"
    assert checked["report"]["features"], checked["report"]  # the drift report, as data

    status = _json("status", "-c", str(project), api=prefect_api_url)
    assert status["champion"]["version"] == "1"
    assert [c["batch_id"] for c in status["checks"]] == ["b-2024-02.csv"]
    assert [r["event"] for r in status["audit"]] == ["promote"]


def test_a_bad_config_is_one_json_error(tmp_path: Path, prefect_api_url: str) -> None:
    config = make_project(tmp_path)
    config.write_text(config.read_text().replace("rounds: 2", "rounds: -1"))
    for command in ("tune", "check-drift", "status", "backtest"):
        error = _json(command, "-c", str(config), api=prefect_api_url, code=1)
        assert list(error) == ["error"] and "search.rounds" in error["error"], (command, error)
