"""`driftune predict` memory stays flat: ten times the rows, about the same peak.

The peak is the `driftune predict` process's maximum resident set size as the kernel counts it
(``ru_maxrss`` of the only child of a wrapper process), so no sampling can miss it. Reading the
whole input at once (before pieces) added ~90 MB between these two sizes, pieces ~5 MB; the
figure for a 6 M-row CSV is bench/predict_memory.py's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.fault_tests.champions import ChampionProject, champion_project, train_scorer

pytestmark = pytest.mark.slow
SMALL, LARGE = 40_000, 400_000
GROWTH_MB = 40  # allowed growth of the peak from SMALL to LARGE rows
PEAK = (
    "import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
    "sys.exit(code)"
)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, template_store: Path) -> ChampionProject:
    root = tmp_path_factory.mktemp("memory") / "project"
    return champion_project(root, template_store, train_scorer())


def rows(path: Path, n: int) -> Path:
    """``n`` unlabelled rows of the champion's kind, written a piece at a time."""
    rng = np.random.default_rng(n)
    with path.open("w") as handle:
        for start in range(0, n, 100_000):
            size = min(100_000, n - start)
            pd.DataFrame(
                {
                    "when": "2024-03-01 00:00:00",
                    "x1": rng.normal(0.0, 1.0, size).round(6),
                    "x2": rng.normal(0.0, 1.0, size).round(6),
                    "colour": rng.choice(["red", "green", "blue"], size),
                }
            ).to_csv(handle, index=False, header=start == 0)
    return path


def peak_mb(project: ChampionProject, source: Path, target: Path) -> float:
    driftune = Path(sys.executable).parent / "driftune"
    command = [str(driftune), "predict", str(source), str(target), "-c", str(project.config)]
    done = subprocess.run(
        [sys.executable, "-c", PEAK, *command],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return int(done.stderr.strip().splitlines()[-1]) / 1024


def test_ten_times_the_rows_scores_within_the_same_memory(
    project: ChampionProject, tmp_path: Path
) -> None:
    small = peak_mb(project, rows(tmp_path / "small.csv", SMALL), tmp_path / "small.out.csv")
    large = peak_mb(project, rows(tmp_path / "large.csv", LARGE), tmp_path / "large.out.csv")
    assert large - small < GROWTH_MB, (
        f"peak {small:.0f} MB for {SMALL} rows, {large:.0f} MB for {LARGE}"
    )
    scored = pd.read_csv(tmp_path / "large.out.csv", usecols=["prediction"])
    assert len(scored) == LARGE and scored["prediction"].notna().all()
