"""`driftune predict IN OUT` never writes over its input, the dataset or (unasked) any file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from flows.cli.app import app
from flows.store.packaging import Scorer
from tests.fault_tests.champions import (
    ChampionProject,
    assert_one_line_refusal,
    champion_project,
    train_scorer,
)

runner = CliRunner()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, template_store: Path) -> ChampionProject:
    scorer: Scorer = train_scorer()
    return champion_project(tmp_path_factory.mktemp("predict") / "project", template_store, scorer)


def _predict(project: ChampionProject, source: Path, target: Path, *extra: str) -> tuple[int, str]:
    args = ["predict", str(source), str(target), "-c", str(project.config), *extra]
    result = runner.invoke(app, args)
    return result.exit_code, result.output


def _assert_refused(code: int, output: str, *needles: str) -> None:
    assert code == 1, output
    assert "Traceback" not in output and len(output.strip().splitlines()) == 1, output
    for needle in needles:
        assert needle in output, output


def test_the_input_as_output_is_refused_by_the_cli(project: ChampionProject) -> None:
    before = project.rows.read_bytes()
    code, output = _predict(project, project.rows, project.rows)
    assert_one_line_refusal(code, output, str(project.rows), "the output is the input file")
    assert project.rows.read_bytes() == before


@pytest.mark.parametrize("kind", ["symlink", "hard link", "dotted path"])
def test_the_input_under_another_name_is_refused(
    project: ChampionProject, tmp_path: Path, kind: str
) -> None:
    before = project.rows.read_bytes()
    if kind == "symlink":
        target = tmp_path / "scored.csv"
        target.symlink_to(project.rows)
    elif kind == "hard link":
        target = tmp_path / "scored.csv"
        target.hardlink_to(project.rows)
    else:
        target = project.rows.parent / "incoming" / ".." / project.rows.name
    code, output = _predict(project, project.rows, target, "--overwrite")
    _assert_refused(code, output, "the output is the input file")
    assert project.rows.read_bytes() == before


def test_an_output_in_the_dataset_folder_is_refused(project: ChampionProject) -> None:
    incoming = project.config.parent / "incoming"
    before = {path.name: path.read_bytes() for path in incoming.iterdir()}
    target = incoming / "scored.csv"
    code, output = _predict(project, project.rows, target, "--overwrite")
    _assert_refused(code, output, "lies in the dataset", "scored.csv")
    assert {path.name: path.read_bytes() for path in incoming.iterdir()} == before
    existing = incoming / "a-2024-01.csv"
    code, output = _predict(project, project.rows, existing, "--overwrite")
    _assert_refused(code, output, "lies in the dataset")
    assert existing.read_bytes() == before["a-2024-01.csv"]


def test_an_output_that_is_a_single_file_dataset_is_refused(
    project: ChampionProject, tmp_path: Path
) -> None:
    dataset = project.config.parent / "incoming" / "a-2024-01.csv"
    single = project.config.read_text().replace("path: incoming", f"path: {dataset}")
    config = tmp_path / "single.yaml"  # the same store, the dataset one file
    config.write_text(single + f"tracking:\n  uri: {project.store.tracking_uri}\n")
    before = dataset.read_bytes()
    result = runner.invoke(
        app, ["predict", str(project.rows), str(dataset), "-c", str(config), "--overwrite"]
    )
    _assert_refused(result.exit_code, result.output, "lies in the dataset")
    assert dataset.read_bytes() == before


def test_an_existing_output_needs_overwrite(project: ChampionProject, tmp_path: Path) -> None:
    target = tmp_path / "scored.csv"
    target.write_text("yesterday's scores\n")
    code, output = _predict(project, project.rows, target)
    _assert_refused(code, output, "the output exists already", "--overwrite")
    assert target.read_text() == "yesterday's scores\n"
    code, output = _predict(project, project.rows, target, "--overwrite")
    assert code == 0, output
    scored = pd.read_csv(target)
    assert list(scored["prediction"]) == list(project.expected["prediction"])


def test_a_new_output_is_written(project: ChampionProject, tmp_path: Path) -> None:
    target = tmp_path / "fresh" / "scored.parquet"
    code, output = _predict(project, project.rows, target)
    assert code == 0, output
    assert len(pd.read_parquet(target)) == len(project.expected)
