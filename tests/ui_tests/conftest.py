"""One real `driftune tune`, the Prefect and MLflow UIs that show it, and headless Chromium.

Session fixtures, in the order they start: a Prefect server (`prefect server start`, which
serves the Prefect UI), a small project tuned once against it by the real `driftune`
executable, the MLflow UI on the project's store (started by `driftune ui`, as a user does) and
one Chromium driven by chromedriver. Every process runs in its own process group; at the end
each group is stopped by its id and the session fails if anything in it is left.

Screenshots go to .driftune/screenshots/ (or to $DRIFTUNE_SCREENSHOTS), overwritten each run;
docs/screenshots/ holds the committed ones the README shows
(`DRIFTUNE_SCREENSHOTS=docs/screenshots make test` refreshes them).
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.fault_tests.processes import cli_env
from tests.flow_tests.projects import batch, land, make_project

# The `driftune` console script of this checkout, whichever module holds the app (the venv's
# own script names the module of the checkout it was installed from).
DRIFTUNE = [sys.executable, "-m", "flows.cli"]  # the `driftune` app of this checkout
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WINDOW = (1400, 900)
SCREENSHOTS = Path(
    os.environ.get("DRIFTUNE_SCREENSHOTS")
    or Path(__file__).parents[2] / ".driftune" / "screenshots"
)
QUIET = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
}
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    f"--window-size={WINDOW[0]},{WINDOW[1]}",
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _group_members(group: int) -> list[int]:
    """Live (not zombie) processes in process group ``group``."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # it exited while we looked
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def _stop_group(group: int, what: str, timeout: float = 20) -> None:
    """SIGTERM the group, SIGKILL what is left after ``timeout``; fail if anything survives."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(group, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _group_members(group):
            time.sleep(0.2)
        if not _group_members(group):
            return
    left = _group_members(group)
    assert not left, f"{what}: processes {left} of group {group} survived SIGKILL"


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        _stop_group(self.process.pid, self.name)
        self.process.wait(timeout=10)


def _start(name: str, command: list[str], env: dict[str, str], log: Path, health: str) -> Server:
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped by its id
        )
    server = Server(name, process, log)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{name} exited with {process.returncode}: {server.log_tail()}")
        try:
            with urllib.request.urlopen(health, timeout=2) as answer:
                if answer.status == 200:
                    return server
        except OSError:
            pass
        time.sleep(0.3)
    server.stop()
    raise AssertionError(f"{name} did not answer {health} within 180 s: {server.log_tail()}")


@pytest.fixture(scope="session")
def chromium() -> tuple[Path, Path]:
    """The Debian Chromium and chromedriver: CI fails without them, elsewhere the tests skip."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        reason = f"the browser tests need {' and '.join(missing)} (apt install chromium-driver)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return CHROMIUM, CHROMEDRIVER


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ui")


@pytest.fixture(scope="session")
def prefect_ui(chromium: tuple[Path, Path], workdir: Path) -> Iterator[str]:
    """A Prefect server of its own (database under the session's folder); its URL, no /api."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    home = workdir / "prefect-home"
    home.mkdir()
    env = {
        **os.environ,
        **QUIET,
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": f"{base}/api",
        "PREFECT_UI_API_URL": f"{base}/api",  # else the UI asks 127.0.0.1:4200
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home / 'prefect.db'}",
    }
    prefect = str(Path(sys.executable).parent / "prefect")
    command = [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    server = _start("prefect server", command, env, workdir / "prefect.log", f"{base}/api/health")
    yield base
    server.stop()


@dataclass
class Tuned:
    name: str
    config: Path
    result: dict[str, Any]


@pytest.fixture(scope="session")
def tuned(workdir: Path, prefect_ui: str, template_store: Path) -> Tuned:
    """A small project and one real `driftune tune` on its first batch (about 15 s)."""
    root = workdir / "project"
    config = make_project(root, template_store)
    land(root, "a-2024-01", batch(np.random.default_rng(0), "2024-01-01"))
    done = subprocess.run(
        [*DRIFTUNE, "tune", "-c", str(config), "--json"],
        env=cli_env(f"{prefect_ui}/api", **QUIET),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads(done.stdout)["retune"]
    assert result["promoted"] is True and result["version"] == "1", result
    return Tuned("toy", config, result)


@dataclass
class MlflowUi:
    base: str
    search_runs_link: str  # the link `driftune ui` prints for the search runs
    trials_link: str  # ... and for every trial, best first


@pytest.fixture(scope="session")
def mlflow_ui(workdir: Path, tuned: Tuned) -> Iterator[MlflowUi]:
    """`driftune ui` (it execs `mlflow ui` on the project's store) at a free port."""
    port = _free_port()
    # No job runner: its six consumer processes cost a 2-core machine seconds and do nothing here.
    env = {
        **cli_env(None, **QUIET),
        "COLUMNS": "300",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    command = [*DRIFTUNE, "ui", "-c", str(tuned.config), "--port", str(port)]
    server = _start(
        "driftune ui", command, env, workdir / "mlflow.log", f"http://127.0.0.1:{port}/health"
    )
    printed = re.search(r"Search runs: (\S+)", server.log_tail(100_000))
    trials = re.search(r"Trials, best first: (\S+)", server.log_tail(100_000))
    try:
        assert printed, f"`driftune ui` printed no link to the search runs: {server.log_tail()}"
        assert trials, f"`driftune ui` printed no link to the trials: {server.log_tail()}"
        yield MlflowUi(f"http://127.0.0.1:{port}", printed.group(1), trials.group(1))
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser(chromium: tuple[Path, Path], workdir: Path) -> Iterator[Any]:
    """Headless Chromium at 1400x900; chromedriver and its browsers in one process group."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = str(chromium[0])
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(dir=workdir, prefix='chromium-')}")
    service = Service(
        str(chromium[1]),
        log_output=str(workdir / "chromedriver.log"),
        popen_kw={"start_new_session": True},
    )
    driver = webdriver.Chrome(service=service, options=options)
    group = driver.service.process.pid
    try:
        # The viewport itself, so each screenshot is exactly WINDOW.
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": WINDOW[0], "height": WINDOW[1], "deviceScaleFactor": 1, "mobile": False},
        )
        yield driver
    finally:
        driver.quit()
        _stop_group(group, "chromedriver and Chromium")


@pytest.fixture(scope="session")
def screenshot() -> Callable[[Any, str], Path]:
    """Save the browser's viewport as <SCREENSHOTS>/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def save(driver: Any, name: str) -> Path:
        from PIL import Image

        path = SCREENSHOTS / f"{name}.png"
        shot = Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB")
        assert shot.size == WINDOW, shot.size
        # 128 colours: a third of the size, no visible loss on a UI's flat colours.
        shot.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
        return path

    return save
