"""Only whole, new batches: a file still being written, a cut CSV, an old batch, a copy.

Each test starts from a copy of one project tuned on batch a (January 2024), then lands a batch
the way it goes wrong for real and runs `driftune check-drift` (with --no-retune: what is taken
is the question, not what a retune makes of it). Before, a CSV still being written was checked
with the rows written so far (181 of 365, its cut last label a new class), a batch dated before
the champion's data was checked as the newest and retuned on, and a copy of a batch was checked
as new; in period mode the next tune trained on every row twice.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from flows.config import load_config
from flows.store.project import open_store
from flows.store.tracking import all_runs
from tests.fault_tests.processes import invoke
from tests.fault_tests.project_copies import copy_project
from tests.flow_tests.projects import batch, land, make_project

pytestmark = pytest.mark.slow
SETTLE_S = 1.0


@pytest.fixture(scope="module")
def tuned(
    tmp_path_factory: pytest.TempPathFactory, template_store: Path, prefect_server: None
) -> Path:
    """The module's project, tuned once on batch a: champion version 1. Tests use copies."""
    root = tmp_path_factory.mktemp("tuned") / "project"
    config = make_project(root, template_store)
    land(root, "a-2024-01", batch(np.random.default_rng(0), "2024-01-01"))
    code, output = invoke("tune", "-c", str(config))
    assert code == 0, output
    return root


def _project(tuned: Path, tmp_path: Path, **dataset: object) -> Path:
    config = copy_project(tuned, tmp_path / "project")
    raw = yaml.safe_load(config.read_text())
    raw["dataset"].update(dataset)
    config.write_text(yaml.safe_dump(raw))
    return config


def _checks(config: Path) -> dict[str, int]:
    """Batch id -> the rows its finished drift check read."""
    store = open_store(load_config(config))
    experiment = store.client.get_experiment_by_name(store.experiment_name("monitoring"))
    if experiment is None:
        return {}
    runs = all_runs(store.client, [experiment.experiment_id], "attributes.status = 'FINISHED'")
    return {r.data.tags["batch_id"]: int(r.data.params["current_rows"]) for r in runs}


def _check(config: Path) -> tuple[int, list[str]]:
    code, output = invoke("check-drift", "--no-retune", "-c", str(config))
    return code, [line for line in output.splitlines() if line.strip()]


def test_a_file_growing_while_check_drift_polls_is_left_for_later(
    tuned: Path, tmp_path: Path
) -> None:
    config = _project(tuned, tmp_path, settle_s=SETTLE_S)
    rows = batch(np.random.default_rng(1), "2024-02-01", n=365, shift=2.0)
    target = config.parent / "incoming" / "b-2024-02.csv"
    text = rows.to_csv(index=False).splitlines(keepends=True)
    stop = threading.Event()

    def write() -> None:
        # Whole lines at a time, so only the file's changing (not a cut line) gives it away.
        with target.open("w") as handle:
            for index, line in enumerate(text):
                handle.write(line)
                handle.flush()
                if index >= 100 and not stop.is_set():
                    time.sleep(0.1)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        code, lines = _check(config)
    finally:
        stop.set()
        writer.join()
    assert code == 0, lines
    assert any("left for a later check" in line and "b-2024-02.csv" in line for line in lines)
    assert any("still being written" in line for line in lines), lines
    assert "b-2024-02.csv" not in _checks(config)

    time.sleep(SETTLE_S)  # written whole: the next check takes all of it
    code, lines = _check(config)
    assert code == 0, lines
    assert _checks(config)["b-2024-02.csv"] == 365


def test_a_cut_csv_is_left_for_later_and_taken_whole(tuned: Path, tmp_path: Path) -> None:
    config = _project(tuned, tmp_path)
    rows = batch(np.random.default_rng(1), "2024-02-01", n=365, shift=2.0)
    text = rows.to_csv(index=False)
    cut = text.rindex("\n", 0, len(text) - 1) + 1 + 20  # 20 characters into the last row
    target = config.parent / "incoming" / "b-2024-02.csv"
    target.write_text(text[:cut])
    code, lines = _check(config)
    assert code == 0, lines
    assert any("b-2024-02.csv" in line and "last line has no end" in line for line in lines)
    assert "b-2024-02.csv" not in _checks(config)

    target.write_text(text)
    code, lines = _check(config)
    assert code == 0, lines
    assert _checks(config)["b-2024-02.csv"] == 365


def test_a_batch_older_than_the_champions_data_is_refused_in_one_line(
    tuned: Path, tmp_path: Path
) -> None:
    config = _project(tuned, tmp_path)
    land(config.parent, "c-late-arrival", batch(np.random.default_rng(2), "2023-11-01", shift=2))
    code, lines = _check(config)
    assert code == 1 and len(lines) == 1, lines
    assert "c-late-arrival.csv" in lines[0] and "not newer than the champion's data" in lines[0]
    assert _checks(config) == {}


def test_an_old_batch_is_skipped_when_configured(tuned: Path, tmp_path: Path) -> None:
    config = _project(tuned, tmp_path, out_of_order="skip")
    land(config.parent, "c-late-arrival", batch(np.random.default_rng(2), "2023-11-01", shift=2))
    code, lines = _check(config)
    assert code == 0, lines
    assert any(line.startswith("skipped: c-late-arrival.csv") for line in lines), lines
    assert _checks(config) == {}


def test_a_copy_of_a_checked_batch_is_refused_even_once_the_original_is_gone(
    tuned: Path, tmp_path: Path
) -> None:
    config = _project(tuned, tmp_path)
    incoming = config.parent / "incoming"
    land(config.parent, "b-2024-02", batch(np.random.default_rng(1), "2024-02-01", shift=2.0))
    assert _check(config)[0] == 0 and "b-2024-02.csv" in _checks(config)
    (incoming / "c-2024-02-again.csv").write_bytes((incoming / "b-2024-02.csv").read_bytes())
    code, lines = _check(config)  # beside the original
    assert code == 1 and len(lines) == 1, lines
    assert "c-2024-02-again.csv" in lines[0] and "same rows as b-2024-02.csv" in lines[0]
    (incoming / "b-2024-02.csv").unlink()  # archived after its check
    code, lines = _check(config)
    assert code == 1 and len(lines) == 1, lines
    assert "c-2024-02-again.csv" in lines[0] and "same rows as batch b-2024-02.csv" in lines[0]
    assert set(_checks(config)) == {"b-2024-02.csv"}


@pytest.mark.parametrize("policy", ["refuse", "skip"])
def test_a_copied_file_is_never_trained_on_twice_in_period_mode(
    tmp_path: Path, template_store: Path, prefect_server: None, policy: str
) -> None:
    config = make_project(tmp_path, template_store)
    raw = yaml.safe_load(config.read_text())
    raw["dataset"].update(every="MS", duplicates=policy)
    config.write_text(yaml.safe_dump(raw))
    rows = batch(np.random.default_rng(0), "2024-01-01")
    land(tmp_path, "a-2024-01", rows)
    land(tmp_path, "b-copy-of-a", rows)
    code, output = invoke("tune", "-c", str(config))
    lines = [line for line in output.splitlines() if line.strip()]
    if policy == "refuse":
        assert code == 1 and len(lines) == 1, output
        assert "b-copy-of-a.csv" in lines[0] and "same rows as a-2024-01.csv" in lines[0]
        return
    assert code == 0, output
    store = open_store(load_config(config))
    experiment = store.client.get_experiment_by_name(store.experiment_name("search"))
    assert experiment is not None
    (search,) = all_runs(store.client, [experiment.experiment_id], "tags.trigger = 'manual'")
    assert int(search.data.tags["n_rows"]) == len(rows), "every row once"
