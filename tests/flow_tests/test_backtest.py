"""`driftune backtest` end to end: a tiny real stream with a planted shift, real flows, stores."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from data.preprocessing import features_and_labels, make_preprocessor
from data.schema import resolve_features
from flows.backtest import BacktestRequest, backtest
from flows.cli import progress
from flows.cli.console import backtest_table
from flows.config import load_config
from flows.store.project import open_store
from flows.store.registry import load_version_model
from models.baselines import fit_fixed
from tests.flow_tests.projects import TINY_SEARCH, batch, land, make_project

pytestmark = [pytest.mark.usefixtures("prefect_server"), pytest.mark.slow]
NAMES = ("a-2024-01", "b-2024-02", "c-2024-03", "d-2024-04")


def _tree_digest(root: Path) -> dict[str, str]:
    """Every file under ``root`` and its content hash."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@dataclass
class Heard:
    """What the backtest told the progress listeners, and what appeared where it ran from."""

    steps: list[tuple[int, int, str]] = field(default_factory=list)
    activities: list[str] = field(default_factory=list)
    in_cwd: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def replayed(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, dict[str, Any], dict, Heard]:
    """Four batches, the last two shifted; a backtest tuning on the first, run from a folder
    that is neither the project's nor the scratch one."""
    root = tmp_path_factory.mktemp("backtest")
    config_path = make_project(root, search={**TINY_SEARCH, "fixed": {"max_epochs": 8}})
    rng = np.random.default_rng(3)
    for name, shift in zip(NAMES, (0.0, 0.0, 2.5, 2.5), strict=True):
        land(root, name, batch(rng, f"{name[2:]}-01", shift=shift))
    before = _tree_digest(root)
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    heard = Heard()
    steps = progress.listening_steps(lambda *step: heard.steps.append(step))
    activities = progress.listening_activities(heard.activities.append)
    with pytest.MonkeyPatch.context() as patch, steps, activities:
        patch.chdir(elsewhere)
        result = backtest(BacktestRequest(config_path=str(config_path), out=str(root / "bt")))
    heard.in_cwd = sorted(str(p.relative_to(elsewhere)) for p in elsewhere.rglob("*"))
    return config_path, result, before, heard


def test_each_later_batch_is_one_row_with_every_policy_scored(
    replayed: tuple[Path, dict[str, Any], dict, Heard],
) -> None:
    _, result, _, _ = replayed
    rows = result["rows"]
    assert [row["batch"] for row in rows] == [f"{name}.csv" for name in NAMES[1:]]
    for row in rows:
        assert row["rows"] == 240
        assert set(row["accuracy"]) == {
            "driftune",
            "never_retrain",
            "fixed_refit",
            "hist_gradient_boosting",
        }
    assert rows[0]["champion_version"] == "1"
    assert rows[0]["accuracy"]["driftune"] == rows[0]["accuracy"]["never_retrain"]
    # The planted shift is caught and answered with a retune that the gate decides.
    assert rows[1]["drift"] == "drift" and rows[1]["retune"] == "drift"
    assert rows[1]["decision"].startswith(("promoted", "refused"))
    summary = result["summary"]
    assert summary["batches"] == 3 and summary["checks"] == 3
    mean = np.mean([row["accuracy"]["fixed_refit"] for row in rows])
    assert summary["mean_accuracy"]["fixed_refit"] == pytest.approx(mean)


def test_baselines_and_champion_are_scored_on_the_same_rows(
    replayed: tuple[Path, dict[str, Any], dict, Heard],
) -> None:
    """Rescoring batch c by hand with the same models gives the row's figures exactly."""
    config_path, result, _, _ = replayed
    root = config_path.parent
    row = result["rows"][1]
    config = load_config(config_path)
    spec = config.spec()
    previous, current = (pd.read_csv(root / "incoming" / f"{n}.csv") for n in NAMES[1:3])
    features = resolve_features(spec, previous)
    X_prev, y_prev = features_and_labels(previous, spec, features)
    X_now, y_now = features_and_labels(current, spec, features)
    preprocessor = make_preprocessor(features).fit(X_prev)
    fixed = fit_fixed(
        np.asarray(preprocessor.transform(X_prev), dtype=np.float32),
        y_prev.to_numpy(),
        fixed=config.search.fixed,
        seed=0,
    )
    encoded_now = np.asarray(preprocessor.transform(X_now), dtype=np.float32)
    expected = float(np.mean(fixed.predict(encoded_now) == y_now.to_numpy()))
    assert row["accuracy"]["fixed_refit"] == pytest.approx(expected)

    scratch = load_config(Path(result["out"]) / "driftune.yaml")
    store = open_store(scratch)
    model = load_version_model(store, row["champion_version"])
    predicted = model.predict(X_now)["prediction"].to_numpy()
    assert row["accuracy"]["driftune"] == pytest.approx(np.mean(predicted == y_now.to_numpy()))


def test_the_project_is_untouched_and_the_result_is_kept(
    replayed: tuple[Path, dict[str, Any], dict, Heard],
) -> None:
    config_path, result, before, _ = replayed
    root = config_path.parent
    after = {k: v for k, v in _tree_digest(root).items() if not k.startswith("bt/")}
    assert after == before  # no store, no file of the project's created or changed
    assert not (root / ".driftune").exists()
    saved = json.loads((Path(result["out"]) / "backtest.json").read_text())
    assert saved["summary"] == json.loads(json.dumps(result["summary"]))
    scratch = load_config(Path(result["out"]) / "driftune.yaml")
    store = open_store(scratch)
    client = store.client
    run = client.get_run(result["mlflow_run_id"])
    assert run.data.metrics["mean_accuracy.driftune"] == pytest.approx(
        result["summary"]["mean_accuracy"]["driftune"]
    )
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"backtest.json", "accuracy_per_batch.png"} <= artifacts


def test_a_rerun_resumes_from_the_journal_without_retuning(
    replayed: tuple[Path, dict[str, Any], dict, Heard],
) -> None:
    config_path, result, _, _ = replayed
    scratch = load_config(Path(result["out"]) / "driftune.yaml")
    store = open_store(scratch)
    client = store.client
    search = client.get_experiment_by_name(f"{scratch.name}-search")
    searches_before = len(client.search_runs([search.experiment_id]))
    again = backtest(BacktestRequest(config_path=str(config_path), out=result["out"]))
    assert again["rows"] == json.loads(json.dumps(result["rows"]))
    assert len(client.search_runs([search.experiment_id])) == searches_before


def test_nothing_is_written_where_it_runs_from(
    replayed: tuple[Path, dict[str, Any], dict, Heard],
) -> None:
    """MLflow's default artifact root is ./mlruns: the backtest's run and figure go to --out."""
    config_path, result, _, heard = replayed
    assert heard.in_cwd == []
    store = open_store(load_config(Path(result["out"]) / "driftune.yaml"))
    uri = store.client.get_run(result["mlflow_run_id"]).info.artifact_uri
    assert uri.startswith((Path(result["out"]).resolve() / ".driftune").as_uri()), uri


def test_the_batch_count_is_known_from_the_start_and_each_step_is_told(
    replayed: tuple[Path, dict[str, Any], dict, Heard],
) -> None:
    _, result, _, heard = replayed
    # The first tune and the three replayed batches: four steps, counted before the first ran.
    assert [(done, total) for done, total, _ in heard.steps] == [(k, 4) for k in range(5)]
    assert heard.steps[1][2].startswith("first tune: v1 in ")
    told = " | ".join(heard.activities)
    for step in (
        "first tune on a-2024-01.csv",
        "choosing the window length",
        "refitting the ",  # the chosen trials, on train + validation
        "the promotion gate",
        "b-2024-02.csv: scoring the champion",
        "b-2024-02.csv: baseline fixed_refit, refit on a-2024-01.csv",
        "b-2024-02.csv: baseline hist_gradient_boosting, refit on a-2024-01.csv",
        "c-2024-03.csv: check-drift",
    ):
        assert step in told, step


def test_the_first_tune_leads_the_table_and_every_row_has_its_seconds(
    replayed: tuple[Path, dict[str, Any], dict, Heard],
) -> None:
    _, result, _, _ = replayed
    tuned = result["first_tune"]
    assert tuned["batches"] == ["a-2024-01.csv"] and tuned["rows"] == 240
    assert tuned["version"] == "1" and tuned["seconds"] > 0
    assert all(row["seconds"] > 0 for row in result["rows"])
    saved = json.loads((Path(result["out"]) / "backtest.json").read_text())
    assert saved["first_tune"] == tuned
    table = backtest_table(result)
    first = [column._cells[0] for column in table.columns]
    assert first[:5] == ["a-2024-01.csv", "240", "-", "first tune", "champion v1"]
    assert first[-1] == f"{tuned['seconds']:.0f}"
    assert table.columns[-1].header == "seconds"
    assert [column._cells[1] for column in table.columns][-1] == (
        f"{result['rows'][0]['seconds']:.0f}"
    )
