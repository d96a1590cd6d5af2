"""A store that cannot be used is one line naming it and the fix, and nothing is made or lost.

A tuned project's `.driftune` folder is made read-only for real: a read-only bind mount in a
mount namespace of the `driftune` process (`unshare`: root writes through any file mode, so a
chmod would prove nothing here; without root, the folder's write bits are taken off instead).
Before, `check-drift`, `tune` and `promote` gave 217-565 lines of traceback there. A deleted
store was silently made again, empty, by the next command, which then said "no champion yet";
now every command but `tune` says the store is missing and where it was, and makes nothing.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.fault_tests.processes import DRIFTUNE, cli_env, error_lines, invoke
from tests.flow_tests.projects import batch, land, make_project

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory, template_store: Path, prefect_server: None):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("tuned")
    config = make_project(root, template_store)
    land(root, "a-2024-01", batch(np.random.default_rng(0), "2024-01-01"))
    code, output = invoke("tune", "-c", str(config))
    assert code == 0, output
    land(root, "b-2024-02", batch(np.random.default_rng(1), "2024-02-01", shift=3.0))
    batch(np.random.default_rng(2), "2024-03-01", n=20).drop(columns="label").to_csv(
        root / "new.csv", index=False
    )
    return config


def _fingerprint(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.endswith(("-shm", ".lock"))
    }


def _commands(config: Path) -> dict[str, list[str]]:
    root = config.parent
    return {
        "status": ["status"],
        "check-drift": ["check-drift", "--no-retune"],
        "tune": ["tune"],
        "promote": ["promote", "1", "--reason", "test"],
        "rollback": ["rollback", "--reason", "test"],
        "predict": ["predict", str(root / "new.csv"), str(root / "out.csv")],
    }


def _unshare_works() -> bool:
    try:
        done = subprocess.run(["unshare", "-rm", "true"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


@pytest.fixture
def read_only_prefix(tuned: Path) -> Iterator[list[str]]:
    """The command prefix that runs `driftune` with the project's `.driftune` read-only."""
    folder = tuned.parent / ".driftune"
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in [folder, *folder.rglob("*")]}
        for path in modes:
            path.chmod(stat.S_IMODE(modes[path]) & ~0o222)
        yield []
        for path, mode in modes.items():
            path.chmod(stat.S_IMODE(mode))
        return
    if not _unshare_works():
        pytest.skip("no read-only mount possible here: not root-free and no `unshare -rm`")
    mount = f"mount --bind {folder} {folder} && mount -o remount,ro,bind {folder} {folder}"
    yield ["unshare", "-rm", "sh", "-c", f'{mount} && exec "$0" "$@"']


@pytest.mark.parametrize("command", ["status", "check-drift", "tune", "promote", "predict"])
def test_a_read_only_store_is_one_line(
    tuned: Path, read_only_prefix: list[str], prefect_api_url: str, command: str
) -> None:
    folder = tuned.parent / ".driftune"
    before = _fingerprint(folder)
    args = [*read_only_prefix, DRIFTUNE, *_commands(tuned)[command], "-c", str(tuned)]
    done = subprocess.run(
        args, env=cli_env(prefect_api_url), capture_output=True, text=True, timeout=600
    )
    lines = error_lines(done)
    assert done.returncode == 1 and len(lines) == 1, done.stdout + done.stderr
    assert "read-only" in lines[0] and str(folder / "mlflow.db") in lines[0], lines[0]
    assert _fingerprint(folder) == before
    assert not (tuned.parent / "out.csv").exists()


@pytest.mark.parametrize("command", ["status", "check-drift", "promote", "rollback", "predict"])
def test_a_deleted_store_is_named_missing_and_not_made_again(
    tuned: Path, tmp_path: Path, command: str
) -> None:
    database = tuned.parent / ".driftune" / "mlflow.db"
    kept = tmp_path / "kept"
    kept.mkdir()
    moved = [p for p in database.parent.glob("mlflow.db*") if not p.name.endswith(".lock")]
    for path in moved:
        shutil.move(path, kept / path.name)
    try:
        code, output = invoke(*_commands(tuned)[command], "-c", str(tuned))
        lines = [line for line in output.splitlines() if line.strip()]
        assert code == 1 and len(lines) == 1, output
        assert "missing" in lines[0] and str(database) in lines[0], lines[0]
        assert str(database.parent / "artifacts") in lines[0], "where its artifacts still are"
        assert not database.exists(), f"{command} made the store again"
    finally:
        for path in moved:
            shutil.move(kept / path.name, path)
