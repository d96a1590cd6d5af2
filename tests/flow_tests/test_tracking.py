"""Search and trial runs on a real SQLite MLflow store: parents, idempotence, status, summaries."""

from __future__ import annotations

import json
import math
import pickle
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from data.lineage import frame_sha256
from flows.store.handle import Store
from flows.store.searches import record_window
from flows.store.tracking import (
    TrackingConfig,
    all_runs,
    ensure_experiment,
    find_logged_trials,
    finish_search_run,
    log_datasets,
    log_trial,
    make_client,
    prepare_local_store,
    start_search_run,
    trial_key,
)
from models.search.trials import TrialResult
from models.window_choice import WindowChoice

SPACE = {"learning_rate": {"type": "LogUniform", "low": 1e-4, "high": 1.0}}


def make_trial(
    seed: int, *, epochs: int = 6, status: str = "ok", round_: int = 0, index: int = 0
) -> TrialResult:
    rng = np.random.default_rng(seed)
    val_loss = list(np.exp(-np.arange(epochs) / 3) + rng.random(epochs) * 0.05)
    val_accuracy = list(0.5 + 0.4 * (1 - np.exp(-np.arange(epochs) / 3)))
    alpha = float(10 ** rng.uniform(-4, 0))
    return TrialResult(
        params={"learning_rate": alpha, "n_layers": int(rng.integers(1, 4)), "optimizer": "adam"},
        seed=seed,
        status=status,  # type: ignore[arg-type]
        metrics={"val_accuracy": max(val_accuracy), "val_log_loss": min(val_loss)},
        curves={
            "train_loss": [v * 0.9 for v in val_loss],
            "val_loss": val_loss,
            "val_accuracy": val_accuracy,
            "learning_rate": [alpha] * epochs,
        },
        duration_s=0.25,
        round=round_,
        error="" if status == "ok" else f"loss became nan at epoch 3 ({status})",
        index=index,
    )


def new_search(store: Store, **overrides: object) -> str:
    settings: dict[str, object] = {
        "trigger": "manual",
        "strategy": "caviar",
        "seed": 0,
        "data_sha256": "ab" * 32,
        "n_rows": 100,
        "time_range": ("2012-01-01", "2013-12-31"),
        "space_dict": SPACE,
    }
    return start_search_run(store, **{**settings, **overrides})  # type: ignore[arg-type]


def children(client: MlflowClient, search_run_id: str) -> list:
    experiment_id = client.get_run(search_run_id).info.experiment_id
    return all_runs(client, [experiment_id], f"tags.mlflow.parentRunId = '{search_run_id}'")


def test_eight_threads_log_trials_under_the_right_parent(
    module_store: Store,
) -> None:
    client = module_store.client
    parents = [new_search(module_store), new_search(module_store)]
    jobs = [
        (parent, i, make_trial(100 * p + i, index=i))
        for p, parent in enumerate(parents)
        for i in range(8)
    ]
    with ThreadPoolExecutor(max_workers=8) as pool:
        run_ids = list(pool.map(lambda job: log_trial(client, *job, strategy="caviar"), jobs))
    assert len(set(run_ids)) == 16
    for p, parent in enumerate(parents):
        runs = children(client, parent)
        assert len(runs) == 8
        assert {r.data.tags["trial_key"] for r in runs} == {trial_key(parent, i) for i in range(8)}
        rebuilt = find_logged_trials(client, parent)
        assert rebuilt == {i: make_trial(100 * p + i, index=i) for i in range(8)}


def test_logging_a_trial_twice_keeps_one_run(
    module_store: Store,
) -> None:
    client = module_store.client
    parent = new_search(module_store)
    first = log_trial(client, parent, 3, make_trial(3))
    again = log_trial(client, parent, 3, make_trial(3))
    assert again == first
    assert [r.info.run_id for r in children(client, parent)] == [first]


def test_a_crashed_half_logged_trial_is_replaced(
    module_store: Store,
) -> None:
    client = module_store.client
    parent = new_search(module_store)
    experiment_id = client.get_run(parent).info.experiment_id
    tags = {"mlflow.parentRunId": parent, "trial_key": trial_key(parent, 0), "trial_index": "0"}
    stale = client.create_run(experiment_id, tags=tags).info.run_id  # left RUNNING by a crash
    assert find_logged_trials(client, parent) == {}
    logged = log_trial(client, parent, 0, make_trial(0))
    assert logged != stale
    assert [r.info.run_id for r in children(client, parent)] == [logged]
    assert client.get_run(stale).info.lifecycle_stage == "deleted"


def test_a_fresh_search_retrying_an_interrupted_trial_keeps_one_run(
    module_store: Store,
) -> None:
    """A fresh search skips the lookup before the create; what an interrupted attempt left goes."""
    client = module_store.client
    parent = new_search(module_store)
    experiment_id = module_store.experiment_id("search")
    tags = {"mlflow.parentRunId": parent, "trial_key": trial_key(parent, 2), "trial_index": "2"}
    stale = client.create_run(experiment_id, tags=tags).info.run_id  # the first try, cut off
    logged = log_trial(
        client, parent, 2, make_trial(2, index=2), experiment_id=experiment_id, fresh_search=True
    )
    assert logged != stale
    assert [r.info.run_id for r in children(client, parent)] == [logged]
    assert client.get_run(stale).info.lifecycle_stage == "deleted"
    assert find_logged_trials(client, parent) == {2: make_trial(2, index=2)}


def test_a_fresh_search_logging_a_finished_trial_again_keeps_the_first_run(
    module_store: Store,
) -> None:
    """A retried task whose first try finished: the second run is deleted, the first returned."""
    client = module_store.client
    parent = new_search(module_store)
    experiment_id = module_store.experiment_id("search")
    first = log_trial(client, parent, 4, make_trial(4), fresh_search=True)
    again = log_trial(
        client, parent, 4, make_trial(4), experiment_id=experiment_id, fresh_search=True
    )
    assert again == first
    assert [r.info.run_id for r in children(client, parent)] == [first]


def test_diverged_trial_is_failed_with_its_reason(
    module_store: Store,
) -> None:
    client = module_store.client
    parent = new_search(module_store)
    trial = make_trial(5, status="diverged")
    run = client.get_run(log_trial(client, parent, 0, trial))
    assert run.info.status == "FAILED"
    assert run.data.tags["trial_status"] == "diverged"
    assert run.data.tags["failure_reason"] == trial.error
    ok_run = client.get_run(log_trial(client, parent, 1, make_trial(6)))
    assert ok_run.info.status == "FINISHED"
    assert "failure_reason" not in ok_run.data.tags


def test_trial_params_curves_and_panda_decisions(module_store: Store, tmp_path: Path) -> None:
    client = module_store.client
    parent = new_search(module_store, strategy="panda")
    base = make_trial(9, epochs=300, round_=2)  # 4 curves x 300 epochs: more than one batch
    decisions = [
        {"segment": 1, "action": "keep", "learning_rate": 0.01},
        {"segment": 2, "action": "decay", "learning_rate": 0.005},
    ]
    trial = TrialResult(**{**base.to_dict(), "extras": {"decisions": decisions}})
    run_id = log_trial(client, parent, 0, trial, strategy="panda")
    run = client.get_run(run_id)
    expected = {k: str(v) for k, v in trial.params.items()}
    assert run.data.params == {**expected, "seed": "9", "round": "2", "strategy": "panda"}
    history = client.get_metric_history(run_id, "val_accuracy")
    assert [m.step for m in history] == list(range(301))
    assert run.data.metrics["val_accuracy"] == trial.metrics["val_accuracy"]
    assert run.data.metrics["epochs"] == 300
    assert len(client.get_metric_history(run_id, "learning_rate")) == 300
    path = client.download_artifacts(run_id, "panda_decisions.json", str(tmp_path))
    table = json.loads(Path(path).read_text())
    assert table["columns"] == ["segment", "action", "learning_rate"]
    assert [row[1] for row in table["data"]] == ["keep", "decay"]
    assert find_logged_trials(client, parent) == {0: trial}


def test_search_run_tags_space_and_datasets(module_store: Store, tmp_path: Path) -> None:
    client = module_store.client
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=30), "c": ["a", None, "b"] * 10, "y": [0, 1] * 15})
    splits = {
        "training": frame.iloc[:20],
        "validation": frame.iloc[20:25],
        "holdout": frame.iloc[25:],
    }
    run_id = new_search(module_store, trigger="drift", drift_run_id="d" * 32, warm_start_run_id="w")
    hashes = log_datasets(client, run_id, splits, label="y", source="/data/weather.csv")
    run = client.get_run(run_id)
    assert client.get_experiment(run.info.experiment_id).name == "shared-search"
    tags = run.data.tags
    assert (tags["trigger"], tags["strategy"], tags["seed"]) == ("drift", "caviar", "0")
    assert (tags["drift_run_id"], tags["warm_start_run_id"]) == ("d" * 32, "w")
    assert (tags["time_start"], tags["time_end"], tags["n_rows"]) == (
        "2012-01-01",
        "2013-12-31",
        "100",
    )
    inputs = {
        next(t.value for t in d.tags if t.key == "mlflow.data.context"): d
        for d in run.inputs.dataset_inputs
    }
    assert set(inputs) == {"training", "validation", "holdout"}
    for context, dataset_input in inputs.items():
        sha = frame_sha256(splits[context])
        assert hashes[context] == sha
        assert dataset_input.dataset.digest == sha[:32]
        assert {t.key: t.value for t in dataset_input.tags}["driftune.sha256"] == sha
    path = client.download_artifacts(run_id, "search_space.json", str(tmp_path))
    assert json.loads(Path(path).read_text()) == SPACE
    with pytest.raises(ValueError, match="trigger"):
        new_search(module_store, trigger="cron")


def test_a_search_run_is_created_with_its_extra_tags_and_its_window_choice(
    module_store: Store,
) -> None:
    client = module_store.client
    run_id = new_search(module_store, extra_tags={"search_key": "k" * 32, "window_batches": "[]"})
    record_window(client, run_id, WindowChoice(periods=2, accuracy={1: 0.61234, 2: 0.7}))
    tags = client.get_run(run_id).data.tags
    assert (tags["search_key"], tags["window_batches"]) == ("k" * 32, "[]")
    assert tags["driftune.kind"] == "search"  # the extra tags join the lineage tags
    assert tags["window_periods"] == "2"
    assert json.loads(tags["window_choice"]) == {"1": 0.6123, "2": 0.7}


def test_finish_search_run_summary_and_figures(module_store: Store, tmp_path: Path) -> None:
    client = module_store.client
    parent = new_search(module_store)
    trials = [make_trial(20 + i, round_=i // 3, index=i) for i in range(6)]
    trials += [
        make_trial(30, status="diverged", index=6),
        make_trial(31, status="failed", index=7),
    ]
    for index, trial in enumerate(trials):
        log_trial(client, parent, index, trial)
    finish_search_run(client, parent, trials)
    run = client.get_run(parent)
    assert run.info.status == "FINISHED"
    counts = {k: run.data.metrics[k] for k in ("n_ok", "n_diverged", "n_failed", "n_trials")}
    assert counts == {"n_ok": 6, "n_diverged": 1, "n_failed": 1, "n_trials": 8}
    best = max(
        range(6),
        key=lambda i: (trials[i].metrics["val_accuracy"], -trials[i].metrics["val_log_loss"]),
    )
    assert run.data.tags["best_trial_index"] == str(best)
    best_run = client.get_run(run.data.tags["best_trial_run_id"])
    assert best_run.data.tags["trial_key"] == trial_key(parent, best)
    assert math.isclose(run.data.metrics["best_val_accuracy"], trials[best].metrics["val_accuracy"])
    figures = {f.path for f in client.list_artifacts(parent, "figures")}
    assert figures == {
        "figures/val_accuracy_vs_learning_rate.png",
        "figures/learning_curves_top5.png",
    }
    png = client.download_artifacts(parent, "figures/learning_curves_top5.png", str(tmp_path))
    assert Path(png).read_bytes()[:4] == b"\x89PNG"


def test_a_search_without_an_ok_trial_ends_failed(
    module_store: Store,
) -> None:
    client = module_store.client
    parent = new_search(module_store)
    finish_search_run(client, parent, [make_trial(1, status="diverged")])
    run = client.get_run(parent)
    assert run.info.status == "FAILED"
    assert run.data.metrics["n_diverged"] == 1


def test_tracking_config_refuses_file_stores_and_creates_nothing_until_used(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sqlite"):
        TrackingConfig(tracking_uri=str(tmp_path / "mlruns"))
    config = TrackingConfig.local(tmp_path / "project", "rain")
    assert config.tracking_uri == f"sqlite:///{tmp_path / 'project' / '.driftune' / 'mlflow.db'}"
    assert config.artifact_location == (tmp_path / "project" / ".driftune" / "artifacts").as_uri()
    assert config.experiment_name("search") == "rain-search"
    assert not (tmp_path / "project").exists()
    prepare_local_store(config)  # what make_client does before opening the store
    assert (tmp_path / "project" / ".driftune").is_dir()
    server = TrackingConfig("http://mlflow.internal:5000", None, "rain")
    prepare_local_store(server)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project"]


def test_experiments_keep_their_artifacts_beside_the_store(store: Store) -> None:
    mlflow_client = store.client
    experiment_id = ensure_experiment(store, "search")
    assert ensure_experiment(store, "search") == experiment_id
    experiment = mlflow_client.get_experiment(experiment_id)
    assert experiment.name == "demo-search"
    assert experiment.artifact_location == f"{store.tracking.artifact_location}/demo-search"
    assert "nested child runs" in experiment.tags["mlflow.note.content"]  # the UI's description
    # The MLflow UI opens it on its runs, not on the GenAI traces view it picks for unknown kinds.
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    mlflow_client.delete_experiment_tag(experiment_id, "mlflow.experimentKind")  # an older store
    mlflow_client.delete_experiment(experiment_id)
    assert ensure_experiment(store, "search") == experiment_id
    restored = mlflow_client.get_experiment(experiment_id)
    assert restored.lifecycle_stage == "active"
    assert restored.tags["mlflow.experimentKind"] == "custom_model_development"


def test_a_store_deleted_and_made_again_in_process_starts_empty(
    store: Store, tmp_path: Path
) -> None:
    """MLflow caches an engine per URI; a deleted store must not be read through it."""
    ensure_experiment(store, "search")
    shutil.rmtree(tmp_path / ".driftune")
    fresh = make_client(store.tracking)
    assert fresh.get_experiment_by_name("demo-search") is None
    assert ensure_experiment(Store(fresh, store.tracking), "search")
    assert fresh.get_experiment_by_name("demo-search") is not None


def test_a_store_handle_resolves_each_experiment_once_and_pickles(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (store.name, store.tracking_uri) == ("demo", store.tracking.tracking_uri)
    assert store.experiment_name("search") == "demo-search"
    experiment_id = store.experiment_id("search")
    assert experiment_id == ensure_experiment(store, "search")
    asked: list[str] = []
    real = store.client.get_experiment_by_name
    monkeypatch.setattr(
        store.client, "get_experiment_by_name", lambda n: asked.append(n) or real(n)
    )
    assert store.experiment_id("search") == experiment_id  # remembered: no request
    assert asked == []
    assert store.experiment_id("monitoring") != experiment_id
    assert asked == ["demo-monitoring"]
    monkeypatch.undo()
    copy = pickle.loads(pickle.dumps(store))  # what a Dask worker receives
    assert copy.tracking == store.tracking and copy.experiment_id("search") == experiment_id
    assert Store(store.client, store.tracking) == store  # what it resolved is not compared
