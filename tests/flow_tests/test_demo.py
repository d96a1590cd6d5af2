"""`driftune demo` end to end with a tiny budget: the replayed years, each with a verdict."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli.app import app


@pytest.mark.slow
def test_demo_replays_three_years_with_a_verdict_each(tmp_path: Path, prefect_server: None) -> None:
    workdir = tmp_path / "demo"
    args = [
        "demo",
        "--workdir",
        str(workdir),
        "--rounds",
        "1",
        "--trials",
        "2",
        "--max-epochs",
        "8",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    output = result.output
    assert "first tune on 2012: version 1 is the champion" in output
    for year in ("2013", "2014", "2015"):
        assert f"{year}: " in output  # one line of reasoning per replayed year
    assert "DRIFT" in output  # seattle's labelling drifts between years
    assert ("promoted" in output) or ("refused" in output)
    assert (workdir / "incoming" / "2015.csv").is_file()

    # A second `driftune demo` (a new process, as `make demo` runs it) starts clean.
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    # At Prefect's own INFO level, as a user runs it: the flow logs go to the server only.
    env.pop("PREFECT_LOGGING_LEVEL", None)
    driftune = Path(sys.executable).parent / "driftune"
    again = subprocess.run(
        [str(driftune), *args], capture_output=True, text=True, env=env, check=False, timeout=600
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert "first tune on 2012: version 1 is the champion" in again.stdout
    assert "| INFO" not in again.stdout + again.stderr
