"""The team setup, started once per test session: what deploy/docker-compose.yml runs, minus Docker.

PostgreSQL (a temporary cluster, databases ``mlflow`` and ``prefect``), the MLflow tracking
server on it with compose's command line (artifacts on local disk instead of MinIO), a Prefect
server on it, a process worker on pool ``driftune``, and a Dask scheduler with two workers.
Each runs in a process group of its own, is waited for with a deadline, and is stopped by its
own id at the end of the session; the session fails if any process of theirs is left.

A missing part (PostgreSQL, mlflow, prefect, dask) skips the folder, or fails it when ``$CI``
is set (.ci/run sets it).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.server_tests.services import (
    MLFLOW_BOUNDS,
    Service,
    base_env,
    driftune,
    executable,
    free_port,
    missing,
    said,
)

POOL = "driftune"
START_TIMEOUT_S = float(os.environ.get("DRIFTUNE_TEST_SERVER_TIMEOUT_S", "240"))
STARTUP_TIMES: dict[str, float] = {}
STOP_TIMES: dict[str, float] = {}


@dataclass
class Team:
    """Addresses of the session's servers, and the environment a driftune command needs."""

    postgres_port: int
    mlflow_url: str
    prefect_api_url: str
    pool: str
    dask_address: str
    dask_workers: list[str]
    logs: Path
    services: dict[str, Service] = field(default_factory=dict)

    def cli_env(self, **extra: str) -> dict[str, str]:
        """For a `driftune` process: the Prefect server's API, the tracking server, bounded."""
        return base_env(
            **{
                "PREFECT_API_URL": self.prefect_api_url,
                "DRIFTUNE_TRACKING_URI": self.mlflow_url,
                "PREFECT_HOME": str(self.logs / "cli-prefect-home"),
                **MLFLOW_BOUNDS,
                **extra,
            }
        )

    def log_of(self, name: str) -> str:
        return self.services[name].log.read_text(errors="replace")


def _postgres_bin() -> Path:
    configured = os.environ.get("DRIFTUNE_TEST_PG_BIN")
    candidates = [Path(configured)] if configured else []
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "postgres").is_file():
            return folder
    if shutil.which("initdb") and shutil.which("postgres"):
        return Path(str(shutil.which("initdb"))).parent
    missing("PostgreSQL is not installed (no initdb/postgres in /usr/lib/postgresql/*/bin or PATH)")
    raise AssertionError  # unreachable


def _as_postgres_user() -> dict[str, Any]:
    """initdb refuses root: as root, PostgreSQL runs as the `postgres` OS account."""
    if os.geteuid() != 0:
        return {}
    try:
        account = pwd.getpwnam("postgres")
    except KeyError:
        missing("running as root and there is no `postgres` OS account to run PostgreSQL as")
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


def _start_postgres(logs: Path, services: dict[str, Service]) -> int:
    import psycopg

    binaries = _postgres_bin()
    owner = _as_postgres_user()
    # Under /tmp itself: pytest's temporary folders are private to root, PostgreSQL's user
    # could not enter them.
    data = Path(tempfile.mkdtemp(prefix="driftune-pg-"))
    if owner:
        os.chown(data, owner["user"], owner["group"])
    began = time.monotonic()
    initdb = Service.start(
        "initdb",
        [str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]
        + ["-E", "UTF8", "--locale=C", "--no-sync"],
        env=base_env(),
        logs=logs,
        **owner,
    )
    if initdb.process.wait(120) != 0:
        raise AssertionError(f"initdb failed; its log ends:\n{initdb.log.read_text()[-3000:]}")
    port = free_port()
    postgres = Service.start(
        "postgres",
        [str(binaries / "postgres"), "-D", str(data), "-p", str(port), "-k", str(data)]
        + ["-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200"]
        + ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
        env=base_env(),
        logs=logs,
        stop_signal=signal.SIGINT,  # PostgreSQL's fast shutdown
        **owner,
    )
    postgres.began = began
    services["postgres"] = postgres
    dsn = f"host=127.0.0.1 port={port} user=postgres dbname=postgres connect_timeout=2"
    postgres.wait_healthy(lambda: bool(psycopg.connect(dsn).close() or True), START_TIMEOUT_S)
    with psycopg.connect(dsn, autocommit=True) as connection:
        for database in ("mlflow", "prefect"):
            connection.execute(f"CREATE DATABASE {database}")
    postgres.data_dir = data
    return port


def _answers(url: str, expect: bytes | None = None) -> bool:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - our own server
        body = response.read()
        return response.status == 200 and (expect is None or expect in body)


def _start_mlflow(pg_port: int, logs: Path, services: dict[str, Service]) -> str:
    port = free_port()
    artifacts = logs.parent / "mlflow-artifacts"
    artifacts.mkdir(exist_ok=True)
    hosts = f"localhost,localhost:{port},127.0.0.1,127.0.0.1:{port}"
    # deploy/docker-compose.yml's command line; the artifacts on local disk instead of MinIO.
    services["mlflow"] = Service.start(
        "mlflow",
        [executable("mlflow"), "server", "--host", "127.0.0.1", "--port", str(port)]
        + ["--backend-store-uri", f"postgresql+psycopg://postgres@127.0.0.1:{pg_port}/mlflow"]
        + ["--artifacts-destination", artifacts.as_uri(), "--serve-artifacts"]
        + ["--allowed-hosts", hosts, "--workers", "1"],
        # No MLflow jobs (GenAI and trace features driftune does not use): six fewer processes.
        env=base_env(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false"),
        logs=logs,
        cwd=logs,
    )
    return f"http://127.0.0.1:{port}"


def _start_prefect(pg_port: int, logs: Path, services: dict[str, Service]) -> str:
    port = free_port()
    env = base_env(
        PREFECT_HOME=str(logs / "prefect-server-home"),
        PREFECT_API_DATABASE_CONNECTION_URL=(
            f"postgresql+asyncpg://postgres@127.0.0.1:{pg_port}/prefect"
        ),
        PREFECT_UI_ENABLED="false",
        # No scheduled runs: the deployments' crons (drift-check hourly) would otherwise hand
        # the worker runs nobody asked for in the middle of a test.
        PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED="false",
    )
    services["prefect"] = Service.start(
        "prefect",
        [executable("prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        logs=logs,
        cwd=logs,
    )
    return f"http://127.0.0.1:{port}/api"


def _start_worker(team: Team) -> None:
    home = team.logs / "worker"
    home.mkdir()
    team.services["worker"] = Service.start(
        "worker",
        [executable("prefect"), "worker", "start", "--pool", team.pool, "--type", "process"]
        + ["--name", "server-tests-worker"],
        # What the compose worker has: the Prefect API and DRIFTUNE_TRACKING_URI; PYTHONPATH
        # (base_env) stands in for the image's installed driftune.
        env=team.cli_env(PREFECT_HOME=str(home), PREFECT_WORKER_QUERY_SECONDS="1"),
        logs=team.logs,
        cwd=home,
    )


def _start_dask(team: Team) -> list[str]:
    dask = executable("dask")
    host, port = team.dask_address.removeprefix("tcp://").split(":")
    env = team.cli_env(PREFECT_HOME=str(team.logs / "dask-prefect-home"))
    team.services["dask-scheduler"] = Service.start(
        "dask-scheduler",
        [dask, "scheduler", "--host", host, "--port", port, "--no-dashboard"],
        env=env,
        logs=team.logs,
        cwd=team.logs,
    )
    names = ["server-tests-dask-1", "server-tests-dask-2"]
    for name in names:
        team.services[name] = Service.start(
            name,
            [dask, "worker", team.dask_address, "--name", name, "--nthreads", "1"]
            + ["--nworkers", "1", "--no-dashboard", "--death-timeout", "60"],
            env=env,
            logs=team.logs,
            cwd=team.logs,
        )
    return names


def _dask_ready(address: str, names: list[str]) -> bool:
    import distributed

    with distributed.Client(address, timeout=5) as client:
        workers = client.scheduler_info(n_workers=-1)["workers"].values()
        ready = sorted(w["name"] for w in workers) == sorted(names)
        if ready:
            client.get_task_stream()  # starts the scheduler's task-stream record for the tests
            # Warm, as a cluster's workers are: the first trial would otherwise wait for these.
            client.run(_import_trial_code)
        return ready


def _import_trial_code() -> None:
    import flows.tasks  # noqa: F401 - torch, Prefect and driftune's training code


def _worker_ready(team: Team) -> bool:
    from prefect.client.orchestration import SyncPrefectClient

    with SyncPrefectClient(team.prefect_api_url) as client:
        workers = client.read_workers_for_work_pool(team.pool)
    return any(worker.name == "server-tests-worker" for worker in workers)


def _stop_all(services: dict[str, Service]) -> dict[str, list[int]]:
    """Clients first, PostgreSQL last; returns what each left alive."""

    def stop(name: str) -> list[int]:
        began = time.monotonic()
        alive = services[name].stop()
        STOP_TIMES[name] = time.monotonic() - began
        return alive

    clients = [name for name in services if name != "postgres"]
    with ThreadPoolExecutor(max(1, len(clients))) as pool:  # each waits for its own only
        left = dict(zip(clients, pool.map(stop, clients), strict=True))
    if "postgres" in services:
        left["postgres"] = stop("postgres")
    return {name: alive for name, alive in left.items() if alive}


@pytest.fixture(scope="session")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    """Start the whole setup once; stop it at the end and check that nothing is left."""
    for module in ("psycopg", "asyncpg", "distributed", "prefect_dask"):
        try:
            __import__(module)
        except ImportError:
            missing(f"the Python package {module} is not installed (pip install -e '.[dev]')")
    logs = tmp_path_factory.mktemp("team") / "logs"
    logs.mkdir()
    services: dict[str, Service] = {}
    began = time.monotonic()
    try:
        pg_port = _start_postgres(logs, services)
        STARTUP_TIMES["postgres"] = services["postgres"].started_s
        mlflow_url = _start_mlflow(pg_port, logs, services)
        prefect_url = _start_prefect(pg_port, logs, services)
        team = Team(
            pg_port, mlflow_url, prefect_url, POOL, f"tcp://127.0.0.1:{free_port()}", [], logs
        )
        team.services = services
        team.dask_workers = _start_dask(team)
        with ThreadPoolExecutor(3) as pool:  # they start side by side; wait for all three
            waits = [
                pool.submit(
                    services["mlflow"].wait_healthy,
                    lambda: _answers(f"{mlflow_url}/health", b"OK"),
                    START_TIMEOUT_S,
                ),
                pool.submit(
                    services["prefect"].wait_healthy,
                    lambda: _answers(f"{prefect_url}/health", b"true"),
                    START_TIMEOUT_S,
                ),
                pool.submit(
                    services["dask-scheduler"].wait_healthy,
                    lambda: _dask_ready(team.dask_address, team.dask_workers),
                    START_TIMEOUT_S,
                ),
            ]
            for wait in waits:
                wait.result()
        _start_worker(team)
        services["worker"].wait_healthy(lambda: _worker_ready(team), START_TIMEOUT_S)
        for name in ("mlflow", "prefect", "dask-scheduler", "worker"):
            STARTUP_TIMES[name] = services[name].started_s
        STARTUP_TIMES["all"] = time.monotonic() - began
        yield team
    finally:
        left = _stop_all(services)
        data = services["postgres"].data_dir if "postgres" in services else None
        if data is not None and not left:
            shutil.rmtree(data, ignore_errors=True)
    assert not left, f"processes left running after the session's servers were stopped: {left}"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if STARTUP_TIMES:
        times = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in STARTUP_TIMES.items())
        terminalreporter.write_line(f"team servers healthy after: {times}")
    if STOP_TIMES:
        times = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in STOP_TIMES.items())
        terminalreporter.write_line(f"team servers stopped in: {times}")


@dataclass
class DeployedProject:
    """A project deployed on the session's pool with `driftune deploy`, retuned by the worker."""

    name: str
    config: Path
    deploy_output: str
    versions_before: int
    flow_run: Any


@pytest.fixture(scope="session")
def deployed(team: Team, tmp_path_factory: pytest.TempPathFactory) -> DeployedProject:
    """Project ``alpha``: `driftune deploy` on the pool, then ``retune-alpha`` run by the worker."""
    from tests.server_tests.projects import mlflow_client, run_deployment, team_project

    name = "alpha"
    config = team_project(tmp_path_factory.mktemp("alpha"), name)
    done = driftune("deploy", "-c", str(config), "--pool", team.pool, env=team.cli_env())
    assert done.returncode == 0, said(done)
    before = len(mlflow_client(team.mlflow_url).search_model_versions(f"name = '{name}'"))
    flow_run = run_deployment(
        team.prefect_api_url, f"retune/retune-{name}", team.services["worker"].log
    )
    return DeployedProject(name, config, done.stdout + done.stderr, before, flow_run)
