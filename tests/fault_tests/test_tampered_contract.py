"""The champion's contract.json read as strictly as its other files; a version without one loads.

A version registered before driftune recorded contracts has no ``contract.json`` SHA-256 on its
tags: it loads and scores its inputs as read (today's behaviour before contracts), `predict`
says so on stderr, and `predict --strict` refuses, having nothing to check against.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from flows.store.model_files import CONTRACT_FILE, ModelLoadError
from flows.store.registry import SHA256_PREFIX, load_champion_model
from tests.fault_tests.champions import (
    ChampionProject,
    assert_one_line_refusal,
    champion_project,
    copy_champion,
    train_scorer,
)
from tests.fault_tests.processes import invoke


@pytest.fixture(scope="module")
def champion(tmp_path_factory: pytest.TempPathFactory, template_store: Path) -> ChampionProject:
    root = tmp_path_factory.mktemp("contract") / "project"
    return champion_project(root, template_store, train_scorer())


@pytest.fixture
def project(tmp_path: Path, champion: ChampionProject) -> ChampionProject:
    return copy_champion(champion, tmp_path / "project")


def refusal(project: ChampionProject) -> str:
    with pytest.raises(ModelLoadError) as caught:
        load_champion_model(project.store)
    message = str(caught.value)
    assert len(message.splitlines()) == 1, message
    assert f"version {project.version} of 'toy'" in message and "nothing was loaded" in message
    return message


def rewrite(project: ChampionProject, change: dict[str, object] | str) -> None:
    """Write a changed contract.json and record its SHA-256, as a registry writer could."""
    path = project.artifact(CONTRACT_FILE)
    if isinstance(change, str):
        path.write_text(change)
    else:
        path.write_text(json.dumps({**json.loads(path.read_text()), **change}))
    project.retag(CONTRACT_FILE)


def test_the_champion_records_a_contract_and_loads_with_it(project: ChampionProject) -> None:
    model = load_champion_model(project.store)
    assert model.contract is not None
    assert [f.column for f in model.contract.categorical] == ["colour"]
    assert model.contract.categorical[0].kind == "text"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"format": 2}, "format 2 is not 1"),
        ({"extra": 1}, "unknown key 'extra' in the top level"),
        ({"numeric": {"type": "posix.system"}}, "numeric must be a list"),
        ("[not json", f"{CONTRACT_FILE}: "),
    ],
)
def test_a_contract_driftune_would_not_write_is_refused_by_key(
    project: ChampionProject, change: dict[str, object] | str, named: str
) -> None:
    rewrite(project, change)
    assert named in refusal(project)


def test_a_contract_for_other_categories_than_the_preprocessor_is_refused(
    project: ChampionProject,
) -> None:
    described = json.loads(project.artifact(CONTRACT_FILE).read_text())
    described["categorical"][0]["values"].append("purple")
    rewrite(project, described)
    assert "does not describe the columns and categories preprocessor.json" in refusal(project)


def test_a_contract_changed_after_registration_is_refused(project: ChampionProject) -> None:
    path = project.artifact(CONTRACT_FILE)
    path.write_bytes(path.read_bytes() + b" ")
    assert f"{CONTRACT_FILE} does not match the SHA-256" in refusal(project)


def test_a_version_from_before_contracts_loads_and_predict_says_so(
    project: ChampionProject, tmp_path: Path
) -> None:
    project.store.client.delete_model_version_tag(
        project.store.name, project.version, SHA256_PREFIX + CONTRACT_FILE
    )
    assert load_champion_model(project.store).contract is None
    target = tmp_path / "scored.csv"
    args = ["predict", str(project.rows), str(target), "-c", str(project.config)]
    code, output = invoke(*args)
    assert code == 0, output
    assert "no data contract" in output and "scored as read" in output, output
    scored = pd.read_csv(target)
    assert (scored["prediction"] == project.expected["prediction"]).all()
    strict = ["predict", str(project.rows), str(tmp_path / "strict.csv"), "--strict"]
    code, output = invoke(*strict, "-c", str(project.config))
    assert_one_line_refusal(code, output, "no data contract", "--strict")
    assert not (tmp_path / "strict.csv").exists()
