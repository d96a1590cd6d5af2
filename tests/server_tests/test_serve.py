"""`mlflow models serve` of the champion the worker promoted, fetched from the tracking server."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from tests.flow_tests.projects import batch
from tests.server_tests.conftest import DeployedProject, Team
from tests.server_tests.services import (
    MLFLOW_BOUNDS,
    Service,
    base_env,
    executable,
    free_port,
    tail,
)

pytestmark = [pytest.mark.servers, pytest.mark.slow]
FEATURES = ["x1", "x2", "colour"]  # the raw columns of tests/flow_tests/projects.batch


def _post(url: str, document: object) -> tuple[int, object]:
    request = urllib.request.Request(
        url,
        data=json.dumps(document).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status, json.loads(response.read())


def test_the_champion_served_by_mlflow_labels_raw_rows(
    team: Team, deployed: DeployedProject, tmp_path: Path
) -> None:
    port = free_port()
    server = Service.start(
        "models-serve",
        [executable("mlflow"), "models", "serve", "-m", f"models:/{deployed.name}@champion"]
        + ["--env-manager", "local", "--host", "127.0.0.1", "--port", str(port), "-w", "1"],
        env=base_env(MLFLOW_TRACKING_URI=team.mlflow_url, **MLFLOW_BOUNDS),
        logs=tmp_path,
        cwd=tmp_path,
    )
    try:
        server.wait_healthy(
            lambda: (
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=5).status == 200
            ),
            180,
        )
        rows = batch(np.random.default_rng(7), "2024-03-01", n=6)[FEATURES]
        split = json.loads(rows.to_json(orient="split", index=False))
        status, answer = _post(f"http://127.0.0.1:{port}/invocations", {"dataframe_split": split})
        assert status == 200, answer
        predictions = answer["predictions"]  # type: ignore[index]
        assert len(predictions) == len(rows), answer
        assert all(p["prediction"] in ("yes", "no") for p in predictions), answer
    finally:
        left = server.stop()
    assert not left, f"mlflow models serve left {left}; its log ends:\n{tail(server.log)}"
