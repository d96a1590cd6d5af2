"""`driftune demo --workdir DIR` never deletes a folder an earlier demo did not make."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.cli.demo import (
    MARKER,
    DemoBudget,
    DemoFolderError,
    clear_demo_folder,
    write_demo_project,
)
from tests.fault_tests.champions import assert_one_line_refusal, run_cli


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


def test_the_cli_refuses_a_user_folder_and_deletes_nothing(tmp_path: Path) -> None:
    project = tmp_path / "my-project"
    before = _user_project(project)
    result = run_cli("demo", "--workdir", str(project))
    assert_one_line_refusal(result, str(project), "nothing was deleted", MARKER)
    assert _snapshot(project) == before


def test_the_cli_refuses_a_file(tmp_path: Path) -> None:
    target = tmp_path / "results.csv"
    target.write_text("precious\n")
    result = run_cli("demo", "--workdir", str(target))
    assert_one_line_refusal(result, str(target), "nothing was deleted")
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
