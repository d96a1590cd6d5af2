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
        "import models, data, flows.cli.app;"
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


@pytest.mark.parametrize("module", ["torch", "models.estimator", "models.trial"])
def test_ruff_bans_torch_in_the_search_package(module: str) -> None:
    result = _ruff(f"import {module}\n\nprint({module})\n", "models/search/probe.py")
    assert result.returncode == 1
    assert "TID251" in result.stdout and f"`{module}` is banned" in result.stdout


def test_the_rest_of_models_may_import_torch() -> None:
    result = _ruff("import torch\n\nprint(torch)\n", "models/probe.py")
    assert result.returncode == 0, result.stdout


def test_a_search_is_planned_without_torch() -> None:
    """Every module of models/search/ imports, and a round is proposed, with torch never loaded."""
    modules = sorted(p.stem for p in (ROOT / "models" / "search").glob("*.py"))
    code = (
        "import importlib, sys;"
        f"[importlib.import_module('models.search.' + m) for m in {modules!r}];"
        "import numpy as np;"
        "from models.search.caviar import CoarseToFine;"
        "from models.search.space import SearchSpace;"
        "from models.search.distributions import LogUniform;"
        "space = SearchSpace({'learning_rate': LogUniform(1e-4, 1e-1)});"
        "proposals = CoarseToFine(space, rounds=2, trials_per_round=3, seed=0).propose([]);"
        "assert len(proposals) == 3, proposals;"
        "assert 'torch' not in sys.modules, 'models.search imported torch'"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert result.returncode == 0, result.stderr
