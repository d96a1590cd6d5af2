"""The robust selection through real retunes: the fixed configuration stands in every search, the
champion-to-be is an ensemble of trials, `predict` scores with it, and a resumed retune rebuilds
the same ensemble."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from flows import candidate
from flows.cli.app import app
from flows.config import load_config
from flows.retune import RetuneRequest, retune
from flows.store.project import open_store
from flows.store.registry import champion, load_champion_model
from flows.store.tracking import all_runs, ensure_experiment
from models.search.warm import standing_configuration
from tests.flow_tests.projects import TINY_SEARCH, batch, land, make_project

pytestmark = pytest.mark.usefixtures("prefect_server")
# Three rounds of three: enough ok trials for greedy selection to average several of them.
SEARCH = {**TINY_SEARCH, "rounds": 3, "trials_per_round": 3, "top_k": 2, "seed": 3}


def _searches(config_path: Path) -> list[Any]:
    store = open_store(load_config(config_path))
    experiment = ensure_experiment(store, "search")
    return all_runs(store.client, [experiment], "tags.`driftune.kind` = 'search'")


def _trials(config_path: Path, search_run_id: str) -> list[Any]:
    store = open_store(load_config(config_path))
    experiment = ensure_experiment(store, "search")
    return all_runs(store.client, [experiment], f"tags.mlflow.parentRunId = '{search_run_id}'")


def noisy_batch(seed: int, start: str, **kwargs: Any) -> pd.DataFrame:
    """A batch with a fifth of its labels flipped: no trial is right everywhere, so averaging
    several beats any one (on clean toy data one trial wins alone)."""
    rng = np.random.default_rng(seed)
    frame = batch(rng, start, **kwargs)
    flip = rng.random(len(frame)) < 0.2
    frame.loc[flip, "label"] = np.where(frame.loc[flip, "label"] == "yes", "no", "yes")
    return frame


@pytest.fixture
def project(tmp_path: Path, template_store: Path) -> Path:
    config_path = make_project(tmp_path, template_store, search=SEARCH)
    land(tmp_path, "a-2024-01", noisy_batch(0, "2024-01-01", n=400))
    return config_path


def test_a_retune_promotes_an_ensemble_that_predict_scores_with(
    project: Path, tmp_path: Path
) -> None:
    outcome = retune(RetuneRequest(config_path=str(project)))
    assert outcome.promoted
    (search,) = _searches(project)
    members = json.loads(search.data.tags["ensemble_members"])
    assert len(members) >= 2, members
    assert sum(m["weight"] for m in members) == pytest.approx(1.0, abs=1e-3)
    weights = {
        int(run.data.tags["trial_index"]): float(run.data.tags["ensemble_weight"])
        for run in _trials(project, search.info.run_id)
        if "ensemble_weight" in run.data.tags
    }
    assert weights == {m["trial"]: pytest.approx(m["weight"], abs=1e-4) for m in members}
    assert "an ensemble of" in search.data.tags["mlflow.note.content"]
    # Each member's refit trained on its trials' thread count, not on torch's default.
    threads = int(search.data.tags["torch_threads"])
    on = "1 torch thread" if threads == 1 else f"{threads} torch threads"
    assert f"epochs on {on}" in search.data.tags["mlflow.note.content"]

    store = open_store(load_config(project))
    model = load_champion_model(store)
    assert len(model.networks) == len(members)
    assert sorted(model.weights) == pytest.approx(sorted(m["weight"] for m in members), abs=1e-4)
    rows = batch(np.random.default_rng(5), "2024-03-01", n=40)
    source, target = tmp_path / "new.csv", tmp_path / "scored.csv"
    rows.drop(columns="label").to_csv(source, index=False)
    result = CliRunner().invoke(app, ["predict", str(source), str(target), "-c", str(project)])
    assert result.exit_code == 0, result.output
    scored = pd.read_csv(target)
    expected = model.predict(rows.drop(columns="label"))
    assert list(scored["prediction"]) == list(expected["prediction"])
    assert np.mean(scored["prediction"].to_numpy() == rows["label"].to_numpy()) > 0.75
    shown = CliRunner().invoke(app, ["status", "-c", str(project)])
    assert shown.exit_code == 0, shown.output
    assert f"model: an ensemble of {len(members)} trials" in shown.output


def test_the_fixed_configuration_is_the_first_trial_of_every_search(project: Path) -> None:
    retune(RetuneRequest(config_path=str(project)))
    land(project.parent, "b-2024-02", noisy_batch(1, "2024-02-01", n=400, shift=1.0))
    retune(RetuneRequest(config_path=str(project), trigger="drift"))
    plan = load_config(project).search.plan
    standing = standing_configuration(plan.space, plan.fixed)
    searches = _searches(project)
    assert len(searches) == 2
    for search in searches:
        first = next(
            run
            for run in _trials(project, search.info.run_id)
            if run.data.tags["trial_index"] == "0"
        )
        assert {k: first.data.params[k] for k in standing} == {
            k: str(v) for k, v in standing.items()
        }


def test_a_resumed_retune_rebuilds_the_same_ensemble(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def stop_after_the_search(*args: object, **kwargs: object) -> None:
        raise RuntimeError("stopped after the search")

    # The planted stop: the search is done and logged, the candidate not yet judged.
    with monkeypatch.context() as patch:
        patch.setattr(candidate, "conclude", stop_after_the_search)
        with pytest.raises(RuntimeError, match="stopped after the search"):
            retune(RetuneRequest(config_path=str(project)))
    (stopped,) = _searches(project)
    chosen = stopped.data.tags["ensemble_members"]

    outcome = retune(RetuneRequest(config_path=str(project)))
    assert outcome.resumed and outcome.search_run_id == stopped.info.run_id
    (search,) = _searches(project)
    assert search.data.tags["ensemble_members"] == chosen
    trials = _trials(project, search.info.run_id)
    assert len(trials) == SEARCH["rounds"] * SEARCH["trials_per_round"]  # none trained twice
    info = champion(open_store(load_config(project)))
    assert info is not None and info.search_run_id == search.info.run_id
    model = load_champion_model(open_store(load_config(project)))
    assert sorted(model.weights) == pytest.approx(
        sorted(m["weight"] for m in json.loads(chosen)), abs=1e-4
    )
