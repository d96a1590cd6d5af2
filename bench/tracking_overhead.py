"""Benchmark: what logging one trial to MLflow costs, against training that trial.

Trains a 30-epoch BNSoftmaxClassifier on data/samples/rainfall.csv (loaded and preprocessed the
way the flows do), then logs that trial (params, four per-epoch curves, final metrics, the exact
result as an artifact) with ``flows.store.tracking.log_trial`` to a fresh SQLite store, many times.
For comparison it also logs the same trial point by point with ``log_metric``, the way the
common integrations do. Medians over repeats; writes bench/results/tracking_overhead.json.

    .venv/bin/python bench/tracking_overhead.py [--train-repeats 3] [--log-repeats 30]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from mlflow import MlflowClient  # noqa: E402

from data import DatasetSpec, load, make_preprocessor, resolve_features, sample_path  # noqa: E402
from data.preprocessing import features_and_labels, time_split  # noqa: E402
from flows.store.handle import Store  # noqa: E402
from flows.store.tracking import TrackingConfig, log_trial  # noqa: E402
from models.estimator import BNSoftmaxClassifier  # noqa: E402
from models.search.trials import TrialResult  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "tracking_overhead.json"
EPOCHS = 30
PARAMS = {
    "n_layers": 2,
    "hidden_units": 64,
    "learning_rate": 3e-3,
    "optimizer": "adam",
    "momentum": 0.9,
    "batch_size": 64,
    "n_threads": 1,  # one intra-op thread: a search runs one trial per core
}


def train_trial(seed: int) -> TrialResult:
    """One 30-epoch trial on rainfall.csv, exactly as a search would run it."""
    spec = DatasetSpec(path=sample_path("rainfall.csv"), label="rain")
    frame = load(spec)
    features = resolve_features(spec, frame)
    split = time_split(frame, spec)
    X_train, y_train = features_and_labels(split.train, spec, features)
    X_val, y_val = features_and_labels(split.validation, spec, features)
    preprocessor = make_preprocessor(features).fit(X_train)
    estimator = BNSoftmaxClassifier(**PARAMS, max_epochs=EPOCHS, patience=None, random_state=seed)
    started = time.perf_counter()
    estimator.fit(
        preprocessor.transform(X_train), y_train, eval_set=(preprocessor.transform(X_val), y_val)
    )
    seconds = time.perf_counter() - started
    history = estimator.history_
    proba = estimator.predict_proba(preprocessor.transform(X_val))
    y_index = np.searchsorted(estimator.classes_, np.asarray(y_val))
    log_loss = float(-np.mean(np.log(np.clip(proba[np.arange(len(y_index)), y_index], 1e-12, 1))))
    return TrialResult(
        params=PARAMS,
        seed=seed,
        status="ok" if estimator.status_ == "ok" else "diverged",
        metrics={
            "val_accuracy": float(np.mean(estimator.classes_[proba.argmax(1)] == y_val)),
            "val_log_loss": log_loss,
            "epochs": float(estimator.n_epochs_),
        },
        curves=history.to_dict(),
        duration_s=seconds,
        error="" if estimator.status_ == "ok" else "diverged",
    )


def log_naively(client: MlflowClient, parent: str, experiment_id: str, trial: TrialResult) -> None:
    """The common pattern: one call per param and per metric point."""
    run_id = client.create_run(experiment_id, tags={"mlflow.parentRunId": parent}).info.run_id
    for key, value in trial.params.items():
        client.log_param(run_id, key, value)
    for name, values in trial.curves.items():
        for step, value in enumerate(values):
            client.log_metric(run_id, name, float(value), step=step)
    for name, value in trial.metrics.items():
        client.log_metric(run_id, name, float(value))
    client.set_terminated(run_id)


def timed_ms(action, repeats: int) -> list[float]:  # type: ignore[no-untyped-def]
    times = []
    for index in range(repeats):
        started = time.perf_counter()
        action(index)
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-repeats", type=int, default=3)
    parser.add_argument("--log-repeats", type=int, default=30)
    parser.add_argument("--naive-repeats", type=int, default=5)
    args = parser.parse_args()
    load_at_start = os.getloadavg()[0]  # other work on the machine inflates every figure

    trials = [train_trial(seed) for seed in range(args.train_repeats)]
    train_s = statistics.median(t.duration_s for t in trials)
    trial = trials[0]
    with tempfile.TemporaryDirectory(prefix="driftune-bench-") as root:
        store = Store.open(TrackingConfig.local(root, "bench"))
        client, experiment_id = store.client, store.experiment_id("search")
        parent = client.create_run(experiment_id, run_name="bench-search").info.run_id
        log_trial(client, parent, -1, trial)  # warm-up: first writes create tables' pages
        batched = timed_ms(lambda i: log_trial(client, parent, i, trial), args.log_repeats)
        repeat = timed_ms(lambda i: log_trial(client, parent, i, trial), args.log_repeats)
        naive = timed_ms(
            lambda i: log_naively(client, parent, experiment_id, trial), args.naive_repeats
        )
    log_ms = statistics.median(batched)
    report = {
        "what": "ms to log one 30-epoch trial to a SQLite MLflow store vs its training time",
        "machine": {
            "platform": platform.platform(),
            "python": sys.version.split()[0],
            "torch_threads": torch.get_num_threads(),
            "cpus": os.cpu_count(),
        },
        "load_average_1m_at_start": round(load_at_start, 2),
        "dataset": "data/samples/rainfall.csv (time_split: 70% train, 15% validation)",
        "trial": {"epochs": len(trial.curves["train_loss"]), "params": PARAMS},
        "train_seconds_median": round(train_s, 3),
        "train_seconds_all": [round(t.duration_s, 3) for t in trials],
        "log_trial_ms_median": round(log_ms, 1),
        "log_trial_ms_p90": round(float(np.percentile(batched, 90)), 1),
        "relog_existing_key_ms_median": round(statistics.median(repeat), 1),
        "naive_log_metric_ms_median": round(statistics.median(naive), 1),
        "overhead_vs_this_trial": round(log_ms / 1000 / train_s, 4),
        "overhead_vs_2s_trial": round(log_ms / 1000 / 2.0, 4),
        "target": "logging under 5% of a 2-second trial (100 ms)",
        "meets_target": log_ms < 100.0,
        "repeats": {"train": args.train_repeats, "log": args.log_repeats},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
