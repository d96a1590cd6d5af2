"""Real SQLite MLflow stores in temporary folders, one per test or one per module.

Every store starts as a copy of the session's migrated template (``template_store``,
tests/conftest.py): a real, empty store each time, in milliseconds.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

# Read by MLflow and Prefect at import time, so set before the test modules import them.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

from mlflow import MlflowClient  # noqa: E402

from flows.store.handle import Store  # noqa: E402
from flows.store.tracking import TrackingConfig, prepare_local_store  # noqa: E402


def _store_in(folder: Path, template: Path, name: str) -> TrackingConfig:
    config = TrackingConfig.local(folder, name)
    prepare_local_store(config)
    shutil.copyfile(template, folder / ".driftune" / "mlflow.db")
    return config


@pytest.fixture
def tracking_config(tmp_path: Path, template_store: Path) -> TrackingConfig:
    """A fresh store for one test, in its tmp_path: ``<tmp_path>/.driftune/mlflow.db``."""
    return _store_in(tmp_path, template_store, "demo")


@pytest.fixture
def store(tracking_config: TrackingConfig) -> Store:
    """The test's fresh store as one handle: a client on ``tracking_config``."""
    return Store.open(tracking_config)


@pytest.fixture
def mlflow_client(store: Store) -> MlflowClient:
    return store.client


@pytest.fixture(scope="module")
def module_store(tmp_path_factory: pytest.TempPathFactory, template_store: Path) -> Iterator[Store]:
    """One store shared by a module's tests that do not interfere (distinct runs or names)."""
    config = _store_in(tmp_path_factory.mktemp("mlflow-module"), template_store, "shared")
    yield Store.open(config)
