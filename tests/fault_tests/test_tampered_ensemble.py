"""An ensemble champion tampered with: every member is read as data, a bad one refused in a line.

An ensemble is one version whose network.json lists its members and whose weights.pt holds each
member's tensors under its number. The whole files are hashed as a single network's are; behind
the hashes (someone who can also write the registry's tags), each member meets the strict
readers: nothing is loaded unless every member is what its description says.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from data.preprocessing import make_preprocessor
from flows.store.model_files import ModelLoadError
from flows.store.packaging import Scorer
from flows.store.registry import load_champion_model
from models.estimator import BNSoftmaxClassifier
from tests.fault_tests.champions import FEATURES, ChampionProject, champion_project
from tests.flow_tests.projects import batch


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    """Two real members fitted on the same rows: 1 x 8 units (weight 0.6) and 2 x 4 (0.4)."""
    frame = batch(np.random.default_rng(0), "2024-01-01")
    preprocessor = make_preprocessor(FEATURES).fit(frame)
    X, y = preprocessor.transform(frame), frame["label"].to_numpy()
    members = [
        (
            BNSoftmaxClassifier(
                n_layers=layers, hidden_units=units, max_epochs=5, batch_size=32, random_state=k
            ).fit(X, y),
            weight,
        )
        for k, (layers, units, weight) in enumerate([(1, 8, 0.6), (2, 4, 0.4)])
    ]
    return Scorer.from_estimators(members, preprocessor, FEATURES, frame)


@pytest.fixture
def project(tmp_path: Path, template_store: Path, scorer: Scorer) -> ChampionProject:
    return champion_project(tmp_path / "project", template_store, scorer)


def refusal(project: ChampionProject) -> str:
    with pytest.raises(ModelLoadError) as caught:
        load_champion_model(project.store)
    message = str(caught.value)
    assert len(message.splitlines()) == 1, message
    assert f"version {project.version} of 'toy'" in message and "nothing was loaded" in message
    return message


def test_an_untampered_ensemble_loads_and_scores_as_trained(project: ChampionProject) -> None:
    model = load_champion_model(project.store)
    assert model.weights == pytest.approx((0.6, 0.4)) and len(model.networks) == 2
    pd.testing.assert_frame_equal(model.predict(pd.read_csv(project.rows)), project.expected)


def test_a_member_s_changed_weights_are_refused_by_the_hash(project: ChampionProject) -> None:
    state = torch.load(project.artifact("weights.pt"), weights_only=True)
    state["1.output.weight"] = state["1.output.weight"] * 10  # the second member only
    torch.save(state, project.artifact("weights.pt"))
    assert "weights.pt does not match the SHA-256 recorded at registration" in refusal(project)


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (lambda d: d["members"][1]["architecture"].update(hidden_units=10**9), "members[1]."),
        (lambda d: d["members"][1]["architecture"].update(activation="os.system"), "members[1]."),
        (lambda d: d["members"][0].update(weight=0.9), "weights sum to"),
        (lambda d: d["members"][1].update(loader="os.system"), "unknown key members[1].loader"),
        (lambda d: d["members"].append(d["members"][0]), "weights sum to"),
        (lambda d: d.update(members=[]), "members must be a list of 1 to"),
        (lambda d: d["members"][1]["architecture"].update(n_classes=3), "classes"),
    ],
)
def test_a_tampered_member_description_is_refused_by_key(
    project: ChampionProject, edit, named: str
) -> None:
    description = json.loads(project.artifact("network.json").read_text())
    edit(description)
    project.artifact("network.json").write_text(json.dumps(description))
    project.retag("network.json")
    message = refusal(project)
    assert "network.json" in message and named in message


def test_a_member_s_tensors_of_the_wrong_shape_are_refused(project: ChampionProject) -> None:
    state = torch.load(project.artifact("weights.pt"), weights_only=True)
    state["1.hidden.1.linear.weight"] = torch.zeros(4, 3)
    torch.save(state, project.artifact("weights.pt"))
    project.retag("weights.pt")
    message = refusal(project)
    assert "tensor '1.hidden.1.linear.weight' is (4, 3)" in message and "needs (4, 4)" in message


def test_a_missing_member_is_refused(project: ChampionProject) -> None:
    state = torch.load(project.artifact("weights.pt"), weights_only=True)
    torch.save(
        {k: v for k, v in state.items() if not k.startswith("1.")}, project.artifact("weights.pt")
    )
    project.retag("weights.pt")
    assert "missing tensors ['1." in refusal(project)
