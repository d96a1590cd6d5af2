"""The registry on a real SQLite store: the gate's verdicts, rollback, crash repair, the audit."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd
import pytest

from data.preprocessing import make_preprocessor
from data.schema import FeatureSet
from flows.store import registry
from flows.store.handle import Store
from flows.store.packaging import LoggedModelRef, Scorer, log_model
from flows.store.registry import (
    CHAMPION,
    PENDING_TAG,
    PREVIOUS,
    ChallengerEvaluationError,
    MissingMetricError,
    NoChampionError,
    apply_decision,
    champion,
    list_audit,
    load_champion_model,
    promote,
    register_candidate,
    rollback,
)
from models.estimator import BNSoftmaxClassifier
from models.promotion import decide_promotion

HOLDOUT = np.random.default_rng(0).integers(0, 3, size=500)


@pytest.fixture
def store(module_store: Store, request: pytest.FixtureRequest) -> Store:
    """The module's store, with a registered model name of this test's own."""
    name = request.node.name.replace("_", "-")[:60]
    return Store(module_store.client, dataclasses.replace(module_store.tracking, name=name))


def predictions(accuracy: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pred = HOLDOUT.copy()
    wrong = rng.choice(len(HOLDOUT), size=round(len(HOLDOUT) * (1 - accuracy)), replace=False)
    pred[wrong] = (pred[wrong] + 1) % 3
    return pred


def candidate(store: Store, pred: np.ndarray | None, **overrides: Any) -> str:
    """Register a (weightless) logged model whose holdout predictions are ``pred``."""
    client = store.client
    run_id = client.create_run(store.experiment_id("search")).info.run_id
    model = client.create_logged_model(store.experiment_id("search"), name="m")
    metrics = None if pred is None else {"accuracy": float(np.mean(pred == HOLDOUT))}
    settings: dict[str, Any] = {
        "search_run_id": run_id,
        "data_sha256": "c0" * 32,
        "holdout_metrics": metrics,
    }
    ref = LoggedModelRef(model.model_id, run_id, model.artifact_location)
    return register_candidate(store, ref, **{**settings, **overrides})


def gate(store: Store, version: str, challenger: np.ndarray, champion_pred: np.ndarray | None):
    decision = decide_promotion(HOLDOUT, challenger, champion_pred, seed=1)
    return apply_decision(store, version, decision, who="tester")


def aliases(store: Store) -> dict[str, str]:
    return {k: str(v) for k, v in store.client.get_registered_model(store.name).aliases.items()}


def test_gate_verdicts_rollback_and_the_audit_trail(store: Store) -> None:
    client = store.client
    first_pred, better_pred = predictions(0.70, 1), predictions(0.85, 2)
    first = candidate(store, first_pred)
    assert champion(store) is None
    record = gate(store, first, first_pred, None)
    assert record.event == "promote" and "no champion" in record.reason
    assert aliases(store) == {CHAMPION: first}

    better = candidate(store, better_pred)
    assert gate(store, better, better_pred, first_pred).event == "promote"
    assert aliases(store) == {CHAMPION: better, PREVIOUS: first}

    same = candidate(store, better_pred.copy())
    assert gate(store, same, better_pred.copy(), better_pred).event == "refuse"
    worse_pred = predictions(0.6, 3)
    worse = candidate(store, worse_pred)
    refusal = gate(store, worse, worse_pred, better_pred)
    assert refusal.event == "refuse" and refusal.metrics["gain"] < 0
    assert aliases(store) == {CHAMPION: better, PREVIOUS: first}

    restored = rollback(store, "the new champion misbehaves in production", who="ops")
    assert (restored.version, restored.previous) == (first, better)
    info = champion(store)
    assert info is not None and (info.version, info.previous_version) == (first, better)
    assert info.holdout_metrics == {"accuracy": 0.70}

    trail = list_audit(store)
    assert [(r.event, r.version) for r in trail] == [
        ("promote", first),
        ("promote", better),
        ("refuse", same),
        ("refuse", worse),
        ("rollback", first),
    ]
    assert [r.who for r in trail] == ["tester"] * 4 + ["ops"]
    assert trail[1].previous == first and trail[1].metrics["champion_accuracy"] == 0.70
    assert trail[1].metrics["probability"] >= 0.95 and trail[1].when
    assert trail[4].reason == "the new champion misbehaves in production"
    registry_runs = client.search_runs(
        [client.get_experiment_by_name(store.experiment_name("registry")).experiment_id],
        "tags.event = 'rollback'",
    )
    assert [run.data.tags["mlflow.note.content"] for run in registry_runs] == [
        f"**rollback** version {first} by ops (champion before: version {better}): "
        "the new champion misbehaves in production"
    ]


def test_a_crash_between_the_alias_moves_is_repaired(store: Store, monkeypatch) -> None:
    client = store.client
    old_pred, new_pred = predictions(0.7, 4), predictions(0.9, 5)
    old = candidate(store, old_pred)
    gate(store, old, old_pred, None)
    new = candidate(store, new_pred)
    real_set_alias = client.set_registered_model_alias
    calls: list[tuple[str, str]] = []

    def crash_on_second_move(name: str, alias: str, version: str) -> None:
        calls.append((alias, version))
        if len(calls) == 2:
            raise ConnectionError("the process died here")
        real_set_alias(name, alias, version)

    monkeypatch.setattr(client, "set_registered_model_alias", crash_on_second_move)
    with pytest.raises(ConnectionError):
        gate(store, new, new_pred, old_pred)
    monkeypatch.undo()
    assert calls == [(PREVIOUS, old), (CHAMPION, new)]
    # Detectable: the intent is pending and both aliases point at the old champion.
    model = client.get_registered_model(store.name)
    assert PENDING_TAG in model.tags
    assert aliases(store) == {CHAMPION: old, PREVIOUS: old}

    info = champion(store)  # the next registry call repairs first
    assert info is not None and (info.version, info.previous_version) == (new, old)
    assert PENDING_TAG not in client.get_registered_model(store.name).tags
    assert [(r.event, r.version) for r in list_audit(store)] == [
        ("promote", old),
        ("promote", new),
    ]
    assert registry.repair(store) is False


def test_failed_evaluation_or_missing_metric_never_moves_the_alias(store: Store) -> None:
    pred = predictions(0.7, 6)
    current = candidate(store, pred)
    gate(store, current, pred, None)
    broken = candidate(store, None, evaluation_error="holdout scoring raised KeyError: 'wind'")
    with pytest.raises(ChallengerEvaluationError, match="wind"):
        promote(store, broken, "manual override")
    unmeasured = candidate(store, None)
    with pytest.raises(ChallengerEvaluationError):
        promote(store, unmeasured, "manual override")
    other_metric = candidate(store, pred, holdout_metrics={"log_loss": 0.4})
    with pytest.raises(MissingMetricError, match="accuracy"):
        promote(store, other_metric, "manual override")
    assert aliases(store) == {CHAMPION: current}
    assert [r.event for r in list_audit(store)] == ["promote"]


def test_rollback_without_a_previous_champion_is_an_error(store: Store) -> None:
    with pytest.raises(NoChampionError):
        rollback(store, "nothing to go back to")
    with pytest.raises(NoChampionError):
        load_champion_model(store)


def test_load_champion_model_scores_a_raw_frame(store: Store) -> None:
    client = store.client
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=120), "c": rng.choice(["a", "b"], 120)})
    labels = np.where((frame["x"] > 0) ^ frame["c"].eq("a"), "yes", "no")
    features = FeatureSet(("x",), ("c",))
    preprocessor = make_preprocessor(features).fit(frame)
    estimator = BNSoftmaxClassifier(n_layers=0, max_epochs=3, random_state=0)
    estimator.fit(preprocessor.transform(frame), labels)
    run_id = client.create_run(store.experiment_id("search")).info.run_id
    ref = log_model(
        client, run_id, Scorer.from_estimator(estimator, preprocessor, features, frame), frame
    )
    version = register_candidate(
        store,
        ref,
        search_run_id=run_id,
        data_sha256="ff" * 32,
        holdout_metrics={"accuracy": 0.5},
    )
    promote(store, version, "first model")
    info = champion(store)
    assert info is not None and info.search_run_id == run_id and info.data_sha256 == "ff" * 32
    out = load_champion_model(store).predict(frame.head(10))
    assert list(out["prediction"]) == list(
        estimator.predict(preprocessor.transform(frame.head(10)))
    )
