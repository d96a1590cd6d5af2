"""Library warnings stay off the console of the real `driftune` commands; `-v` shows them.

A feature column of integers makes MLflow warn, with five lines, each time a model's signature is
inferred (every tune, every retune the drift check starts, the backtest's tunes): the warning
must land in the log file, never between the command's lines.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flows.cli.quiet import LOG_NAME
from tests.flow_tests.projects import batch, land, make_project

pytestmark = pytest.mark.slow
DRIFTUNE = Path(sys.executable).parent / "driftune"
HINT = "Inferred schema contains integer column"
# What a library's warning looks like on a console: warnings.warn's two lines, or a log record.
NOISE = re.compile(r"Warning\b|warnings\.warn|\bWARNING\b|\bHint\b")


def _batch(seed: int, start: str) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = batch(rng, start)
    frame["visits"] = rng.integers(0, 9, len(frame))  # integers: MLflow's signature hint
    return frame


def _driftune(*args: str, cwd: Path, api: str) -> str:
    env = {**os.environ, "PREFECT_API_URL": api, "COLUMNS": "200"}
    done = subprocess.run(
        [str(DRIFTUNE), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, template_store: Path) -> Path:
    root = tmp_path_factory.mktemp("quiet")
    config = make_project(root, template_store)
    land(root, "a-2024-01", _batch(0, "2024-01-01"))
    return config


def test_tune_check_drift_predict_and_backtest_print_no_library_warning(
    project: Path, prefect_api_url: str, tmp_path: Path
) -> None:
    root = project.parent
    log = root / ".driftune" / LOG_NAME
    told = {"tune": _driftune("tune", "-c", str(project), cwd=tmp_path, api=prefect_api_url)}
    assert HINT in log.read_text(), "the warning happened, and went to the log file"
    land(root, "b-2024-02", _batch(1, "2024-02-01"))
    told["check-drift"] = _driftune(
        "check-drift", "-c", str(project), cwd=tmp_path, api=prefect_api_url
    )
    scored = tmp_path / "scored.csv"
    unlabelled = tmp_path / "new.csv"
    _batch(2, "2024-03-01").drop(columns="label").to_csv(unlabelled, index=False)
    told["predict"] = _driftune(
        "predict",
        str(unlabelled),
        str(scored),
        "-c",
        str(project),
        cwd=tmp_path,
        api=prefect_api_url,
    )
    out = tmp_path / "bt"
    told["backtest"] = _driftune(
        "backtest", "-c", str(project), "--out", str(out), cwd=tmp_path, api=prefect_api_url
    )
    for command, output in told.items():
        assert not NOISE.search(output), f"{command} printed: {output}"
    assert HINT in (out / LOG_NAME).read_text(), "the backtest's log lies under its --out"
    assert "first tune" in told["backtest"] and "wrote 240 scored rows" in told["predict"]


def test_verbose_shows_them(project: Path, prefect_api_url: str, tmp_path: Path) -> None:
    output = _driftune("tune", "-v", "-c", str(project), cwd=tmp_path, api=prefect_api_url)
    assert HINT in output
