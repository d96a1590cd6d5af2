"""Test-session environment: no telemetry, no network, quiet and deterministic threads."""

from __future__ import annotations

import os

# Set before Prefect or MLflow import anywhere in the session: both read these at import time.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    """One temporary Prefect server for the whole session (it takes ~10 s to start).

    Prefect's own test harness: it also points threads started later at the server. Its start-up
    timeout counts only the 0.1 s pauses between health checks, so 300 is at least five minutes
    of wall time: a loaded 2-core CI machine took over a minute.
    """
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=300):
        yield


@pytest.fixture(scope="session")
def prefect_api_url(prefect_server: None) -> str:
    """The session's Prefect server, for the subprocesses (they read PREFECT_API_URL)."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    assert url, "the session's Prefect server has no URL"
    return str(url)


@pytest.fixture(scope="session")
def global_store_decoy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Point MLflow's process-global tracking URI at a decoy that must stay unused.

    driftune passes its store explicitly; code that slips onto the fluent API or a bare
    ``MlflowClient()`` would create the decoy database, and the session fails at teardown.
    """
    decoy = tmp_path_factory.mktemp("mlflow-global") / "must-stay-unused.db"
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{decoy}"
    yield decoy
    if previous is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = previous
    assert not decoy.exists(), "something used MLflow's global tracking URI"


@pytest.fixture(scope="session")
def template_store(tmp_path_factory: pytest.TempPathFactory, global_store_decoy: Path) -> Path:
    """A migrated, empty MLflow database file to copy, one for the whole session.

    Creating an MLflow SQLite store runs its schema migrations (seconds); every project and
    server store the tests make starts as a copy of this one instead (milliseconds).
    """
    from mlflow import MlflowClient

    folder = tmp_path_factory.mktemp("mlflow-template")
    database = folder / "mlflow.db"
    client = MlflowClient(tracking_uri=f"sqlite:///{database}")
    client.search_experiments()  # creates the tables
    return database


# Seconds per test folder (setup, call and teardown), printed at the end of every run: the CI
# log then says how long each part of the suite took, the servers' and the browser's included.
_FOLDER_SECONDS: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    folder = report.nodeid.split("::")[0].rsplit("/", 1)[0]
    _FOLDER_SECONDS[folder] = _FOLDER_SECONDS.get(folder, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _FOLDER_SECONDS:
        return
    parts = ", ".join(f"{folder} {seconds:.0f} s" for folder, seconds in _FOLDER_SECONDS.items())
    terminalreporter.write_line(f"seconds per test folder: {parts}")
