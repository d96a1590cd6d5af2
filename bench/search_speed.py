"""Search speed: a caviar round of 8 trials trained apart on 2 threads against fused (issue 14).

Today's path trains each trial as its own BNSoftmaxClassifier fit, two at a time on a thread
pool with one torch thread each (what flows/running.py does on a 2-core machine:
parallel_trials = min(cores, 8), threads_per_trial = cores // that; a plain ThreadPoolExecutor
stands in for Prefect's ThreadPoolTaskRunner, which runs tasks on one). The fused path groups
the same proposals by structure (models.fused.group_by_structure) and trains each group as one
stacked model, the groups spread over the same two threads, one torch thread each.

Two kinds of round, each with the same proposals for both paths (paired):
- ``as_drawn``: CoarseToFine round-1 proposals of the default space, as sampled;
- ``cohort``: the same proposals with the structure (n_layers, batch_size) drawn once per cohort
  of 4 (the first proposal of each cohort lends its own to the other 3), so a round is 2 groups
  whose widths are padded to the widest;
- ``cohort_width``: as ``cohort``, hidden_units drawn once per cohort too (no padding).
Repeats use search seeds 0, 1, ...; medians over repeats and the median of the paired ratios.

Run: .venv/bin/python bench/search_speed.py [--repeats N] [--datasets NAME ...] [--out PATH]
     ->  bench/results/search_speed.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from data import (
    DatasetSpec,
    features_and_labels,
    load,
    make_preprocessor,
    resolve_features,
    sample_path,
    time_split,
)
from models import BNSoftmaxClassifier, CoarseToFine, SearchSpace
from models.fused import group_by_structure, train_fused
from models.trial import estimator_settings

RESULTS = Path(__file__).parent / "results" / "search_speed.json"
# seattle-weather: a year of days (a retune's window there); rainfall: its newest 6,000 rows.
DATASETS = {
    "seattle-weather": {"file": "seattle-weather.csv", "label": "weather", "time": "date",
                        "window": 365},
    "rainfall": {"file": "rainfall.csv", "label": "rain", "time": None, "window": 6000},
}  # fmt: skip
FIXED = {"max_epochs": 40, "patience": 8}  # flows/config.py's default search.fixed
TRIALS, WORKERS, COHORT = 8, 2, 4
# What a cohort shares: depth and batch size (widths padded), or those and the width too.
COHORTS = {"cohort": ("n_layers", "batch_size"), "cohort_width": ("n_layers", "batch_size",
                                                                 "hidden_units")}  # fmt: skip
TARGETS = {"seattle-weather": 3.0, "rainfall": 1.5}


def prepare(name: str) -> dict[str, NDArray[Any]]:
    """The window, split in time order, encoded with the preprocessor fitted on train only."""
    info = DATASETS[name]
    spec = DatasetSpec(path=sample_path(str(info["file"])), label=str(info["label"]),
                       time=info["time"])  # fmt: skip
    frame = load(spec).iloc[-int(info["window"]) :]
    split = time_split(frame, spec, validation=0.15, holdout=0.15)
    features = resolve_features(spec, frame)
    preprocessor = make_preprocessor(features)
    arrays: dict[str, NDArray[Any]] = {}
    for part, rows in (("train", split.train), ("val", split.validation)):
        X, y = features_and_labels(rows, spec, features)
        X_arr = preprocessor.fit_transform(X) if part == "train" else preprocessor.transform(X)
        arrays[f"X_{part}"], arrays[f"y_{part}"] = X_arr.astype(np.float32), y.to_numpy()
    return arrays


def round_settings(seed: int, shared: Sequence[str]) -> list[dict[str, Any]]:
    """Round 1's 8 trials as estimator settings, the ``shared`` ones drawn once per cohort."""
    proposals = CoarseToFine(SearchSpace.default(), trials_per_round=TRIALS, seed=seed).propose([])
    params = [dict(p.params) for p in proposals]
    for i, p in enumerate(params):
        p.update({k: params[i - i % COHORT][k] for k in shared})
    return [
        estimator_settings(FIXED, p, q.seed, n_threads=1)
        for p, q in zip(params, proposals, strict=True)
    ]


def separate(settings: Sequence[Mapping[str, Any]], d: Mapping[str, Any]) -> list[Any]:
    def fit(s: Mapping[str, Any]) -> BNSoftmaxClassifier:
        return BNSoftmaxClassifier(**s).fit(
            d["X_train"], d["y_train"], eval_set=(d["X_val"], d["y_val"])
        )

    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(fit, settings))


def fused(settings: Sequence[Mapping[str, Any]], d: Mapping[str, Any]) -> list[Any]:
    groups = group_by_structure(settings)

    def fit(group: list[int]) -> list[BNSoftmaxClassifier]:
        chosen = [settings[i] for i in group]
        return train_fused(chosen, d["X_train"], d["y_train"], d["X_val"], d["y_val"])

    models: list[Any] = [None] * len(settings)
    # Largest groups first, so the two threads finish close together.
    order = sorted(groups, key=len, reverse=True)
    with ThreadPoolExecutor(WORKERS) as pool:
        for group, fitted in zip(order, pool.map(fit, order), strict=True):
            for i, model in zip(group, fitted, strict=True):
                models[i] = model
    return models


def timed(fn: Any, settings: Sequence[Mapping[str, Any]], d: Mapping[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    models = fn(settings, d)
    seconds = time.perf_counter() - started
    samples = sum(len(d["y_train"]) * m.n_epochs_ for m in models)
    return {"seconds": seconds, "samples_per_s": samples / seconds, "models": models}


def one_repeat(d: Mapping[str, Any], seed: int, shared: Sequence[str]) -> dict[str, Any]:
    settings = round_settings(seed, shared)
    # Alternate which path goes first, so drift in the shared machine's load hits both alike.
    paths = [("separate", separate), ("fused", fused)]
    runs = dict((name, timed(fn, settings, d)) for name, fn in (paths[::-1] if seed % 2 else paths))
    agree = [
        (a.n_epochs_ == b.n_epochs_, a.status_ == b.status_,
         float(np.abs(a.predict_proba(d["X_val"]) - b.predict_proba(d["X_val"])).max()))
        for a, b in zip(runs["separate"]["models"], runs["fused"]["models"], strict=True)
    ]  # fmt: skip
    return {
        "seed": seed,
        "group_sizes": sorted((len(g) for g in group_by_structure(settings)), reverse=True),
        "separate_s": runs["separate"]["seconds"],
        "fused_s": runs["fused"]["seconds"],
        "separate_samples_per_s": runs["separate"]["samples_per_s"],
        "fused_samples_per_s": runs["fused"]["samples_per_s"],
        "ratio_separate_over_fused": runs["separate"]["seconds"] / runs["fused"]["seconds"],
        "same_epochs_and_status": all(e and s for e, s, _ in agree),
        "max_abs_proba_diff": max(p for _, _, p in agree),
    }


def summary(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    def med(key: str) -> float:
        return statistics.median(r[key] for r in rows)

    return {
        "separate_s_median": med("separate_s"),
        "fused_s_median": med("fused_s"),
        "separate_samples_per_s_median": med("separate_samples_per_s"),
        "fused_samples_per_s_median": med("fused_samples_per_s"),
        "paired_ratio_median": med("ratio_separate_over_fused"),
        "paired_ratios": [r["ratio_separate_over_fused"] for r in rows],
        "group_sizes": [r["group_sizes"] for r in rows],
        "repeats": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    report: dict[str, Any] = {
        "benchmark": "search_speed",
        "round": f"CoarseToFine round 1, {TRIALS} trials, default space, fixed {FIXED}",
        "separate": f"{WORKERS} threads x 1 torch thread, one BNSoftmaxClassifier.fit per trial",
        "fused": f"structure groups over {WORKERS} threads x 1 torch thread, train_fused",
        "cohorts": {
            name: f"{shared} drawn once per cohort of {COHORT}" for name, shared in COHORTS.items()
        },
        "warm_up": "one untimed round of each path per dataset first (torch's first calls)",
        "machine": {"python": platform.python_version(), "cpu_count": os.cpu_count()},
        "datasets": {},
    }
    for name in args.datasets:
        d = prepare(name)
        entry: dict[str, Any] = {"train_rows": len(d["y_train"]), "val_rows": len(d["y_val"])}
        one_repeat(d, 99, ())  # warm-up: torch's first calls cost seconds, not the paths
        for variant, shared in (("as_drawn", ()), *COHORTS.items()):
            rows = [one_repeat(d, seed, shared) for seed in range(args.repeats)]
            entry[variant] = summary(rows)
            s = entry[variant]
            print(
                f"{name:16s} {variant:9s} separate {s['separate_s_median']:6.2f}s  fused "
                f"{s['fused_s_median']:6.2f}s  paired ratio {s['paired_ratio_median']:.2f}  "
                f"groups {s['group_sizes']}",
                flush=True,
            )
        entry["target_ratio"] = TARGETS[name]
        entry["target_met_as_drawn"] = entry["as_drawn"]["paired_ratio_median"] >= TARGETS[name]
        for variant in COHORTS:
            met = entry[variant]["paired_ratio_median"] >= TARGETS[name]
            entry[f"target_met_{variant}"] = met
        report["datasets"][name] = entry
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
