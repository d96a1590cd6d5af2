"""`driftune demo --workdir DIR` never deletes a folder an earlier demo did not make.

The CLI's refusal comes before Prefect, MLflow, torch or pandas load: one line in a fraction
of a second, which these tests see from a fresh interpreter.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.cli.demo import DemoBudget, write_demo_project
from flows.cli.demo_folder import MARKER, DemoFolderError, clear_demo_folder
from tests.flow_tests.probe import probe

HEAVY = {"prefect", "mlflow", "torch", "pandas"}


def _user_project(folder: Path) -> dict[Path, bytes]:
    """A user's folder: data, notes and a store; returns every file with its bytes."""
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "2024.csv").write_text("when,x,label\n2024-01-01,1.0,yes\n")
    (folder / "notes.md").write_text("months of notes\n")
    (folder / ".driftune").mkdir()
    (folder / ".driftune" / "mlflow.db").write_bytes(b"SQLite format 3\x00")
    return _snapshot(folder)


def _snapshot(folder: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def _refused(workdir: Path, *needles: str) -> None:
    """`driftune demo --workdir WORKDIR`: one line naming it, exit 1, nothing heavy imported."""
    code, loaded, output = probe("demo", "--workdir", str(workdir), cwd=workdir.parent)
    lines = [line for line in output.splitlines() if line.strip()]
    said = [line for line in lines if not line.startswith("PROBE")]  # the probe's own report
    assert code == 1, output
    assert "Traceback" not in output and len(said) == 1, output
    for needle in needles:
        assert needle in said[0], output
    assert not loaded & HEAVY, f"the refusal imported {sorted(loaded & HEAVY)}"


def test_the_cli_refuses_a_user_folder_and_deletes_nothing(tmp_path: Path) -> None:
    project = tmp_path / "my-project"
    before = _user_project(project)
    _refused(project, str(project), "nothing was deleted", MARKER)
    assert _snapshot(project) == before


def test_the_cli_refuses_a_file(tmp_path: Path) -> None:
    target = tmp_path / "results.csv"
    target.write_text("precious\n")
    _refused(target, str(target), "nothing was deleted")
    assert target.read_text() == "precious\n"


def test_a_link_to_a_demo_folder_is_refused(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    write_demo_project(demo, DemoBudget())
    link = tmp_path / "link"
    link.symlink_to(demo, target_is_directory=True)
    with pytest.raises(DemoFolderError, match="nothing was deleted"):
        clear_demo_folder(link)
    assert (demo / MARKER).is_file()


def test_a_folder_with_the_marker_is_recreated_clean(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    config = write_demo_project(demo, DemoBudget())
    assert (demo / MARKER).is_file() and config == demo / "driftune.yaml"
    (demo / "incoming" / "2012.csv").write_text("an earlier run's batch\n")
    write_demo_project(demo, DemoBudget())
    assert (demo / MARKER).is_file()
    assert list((demo / "incoming").iterdir()) == []


def test_an_empty_folder_is_used_as_it_is(tmp_path: Path) -> None:
    demo = tmp_path / "empty"
    demo.mkdir()
    write_demo_project(demo, DemoBudget())
    assert (demo / MARKER).is_file() and (demo / "driftune.yaml").is_file()


def test_a_marker_that_is_a_link_does_not_count(tmp_path: Path) -> None:
    project = tmp_path / "my-project"
    before = _user_project(project)
    elsewhere = tmp_path / "marker"
    elsewhere.write_text("")
    (project / MARKER).symlink_to(elsewhere)
    with pytest.raises(DemoFolderError):
        clear_demo_folder(project)
    assert {path: data for path, data in _snapshot(project).items() if path.name != MARKER} == (
        before
    )
