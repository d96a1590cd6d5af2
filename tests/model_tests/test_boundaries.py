"""The one-way dependency rule, held by the linter: the core never imports prefect or mlflow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _ruff(source: str, filename: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--stdin-filename", filename, "-"],
        input=source,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )


@pytest.mark.parametrize("package", ["models", "data"])
@pytest.mark.parametrize("module", ["prefect", "mlflow"])
def test_ruff_bans_orchestration_imports_in_the_core(package: str, module: str) -> None:
    result = _ruff(f"import {module}\n\nprint({module})\n", f"{package}/probe.py")
    assert result.returncode == 1
    assert "TID251" in result.stdout and f"`{module}` is banned" in result.stdout


def test_flows_may_import_them() -> None:
    result = _ruff("import mlflow\nimport prefect\n\nprint(mlflow, prefect)\n", "flows/probe.py")
    assert result.returncode == 0, result.stdout


def test_importing_the_core_has_no_side_effects(tmp_path: Path) -> None:
    code = (
        "import os, sys; os.chdir(sys.argv[1]);"
        "import models, data, flows.cli;"
        "assert 'mlflow' not in sys.modules and 'prefect' not in sys.modules, 'eager import';"
        "assert os.listdir('.') == [], os.listdir('.');"
        # the child imported this checkout's packages, not a copy installed elsewhere
        "assert models.__file__.startswith(sys.argv[2]), models.__file__"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
