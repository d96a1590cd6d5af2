"""Search speed: a caviar round of 8 trials trained apart on 2 threads, fused, and fused with
successive halving (issue 14).

Three paths over the same proposals, each trial scored as the search scores it
(models.trial: validation accuracy of its best-validation weights):
- ``separate`` (today's default): each trial its own BNSoftmaxClassifier fit through
  ``make_train_fn``, two at a time on a thread pool with one torch thread each (what
  flows/running.py does on a 2-core machine: parallel_trials = min(cores, 8),
  threads_per_trial = cores // that; a plain ThreadPoolExecutor stands in for Prefect's
  ThreadPoolTaskRunner, which runs tasks on one);
- ``fused`` (``search.fused: true``): ``make_fused_round``, the proposals grouped by structure,
  each group one stacked model, the groups in lockstep on the same two threads;
- ``pruned`` (``search.pruning.enabled: true`` beside it): the same with successive halving at
  the config's default rungs; its best is the best trial that was not pruned, as the search's;
- ``pruned_late``: the same with the first rung at epoch 8 instead of 4.
For each path: wall time, samples per second (training rows x epochs trained, summed over
trials) and the round's best validation accuracy; means with 95% t intervals over seeds, and
the paired per-seed time ratios against ``separate``.

Two kinds of round, each with the same proposals for both paths (paired):
- ``as_drawn``: CoarseToFine round-1 proposals of the default space, as sampled;
- ``cohort``: the same proposals with the structure (n_layers, batch_size) drawn once per cohort
  of 4 (the first proposal of each cohort lends its own to the other 3), so a round is 2 groups
  whose widths are padded to the widest;
- ``cohort_width``: as ``cohort``, hidden_units drawn once per cohort too (no padding).
Repeats use search seeds 0, 1, ...; ``as_drawn`` runs all three paths over ``--repeats`` seeds
(20 by default), the cohort rounds ``separate`` against ``fused`` over ``--cohort-repeats``.

Run: .venv/bin/python bench/search_speed.py [--repeats N] [--datasets NAME ...] [--out PATH]
     ->  bench/results/search_speed.json
"""

from __future__ import annotations

import argparse
import json
import math
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
from scipy import stats

from data import (
    DatasetSpec,
    features_and_labels,
    load,
    make_preprocessor,
    resolve_features,
    sample_path,
    time_split,
)
from models import CoarseToFine, SearchSpace
from models.fused import group_by_structure
from models.search.pruning import SuccessiveHalving
from models.search.trials import TRIAL_STATUSES, best_trial
from models.trial import estimator_settings, make_train_fn, train_round_fused

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
PRUNER = SuccessiveHalving()  # search.pruning's defaults (flows/config.py)
LATE_PRUNER = SuccessiveHalving(min_epochs=8)  # the first rung later: fewer good trials cut


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


def round_trials(seed: int, shared: Sequence[str]) -> list[tuple[dict[str, Any], int]]:
    """Round 1's 8 (params, seed) trials, the ``shared`` params drawn once per cohort."""
    proposals = CoarseToFine(SearchSpace.default(), trials_per_round=TRIALS, seed=seed).propose([])
    params = [dict(p.params) for p in proposals]
    for i, p in enumerate(params):
        p.update({k: params[i - i % COHORT][k] for k in shared})
    return [(p, q.seed) for p, q in zip(params, proposals, strict=True)]


def separate(trials: Sequence[tuple[dict[str, Any], int]], d: Mapping[str, Any]) -> list[Any]:
    train_fn = make_train_fn(*_arrays(d), fixed_params=FIXED, n_threads=1)
    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(lambda trial: train_fn(*trial), trials))


def fused(
    trials: Sequence[tuple[dict[str, Any], int]],
    d: Mapping[str, Any],
    pruner: SuccessiveHalving | None = None,
) -> list[Any]:
    return train_round_fused(
        trials, *_arrays(d), fixed_params=FIXED, n_threads=1, pruner=pruner, workers=WORKERS
    )


def pruned(trials: Sequence[tuple[dict[str, Any], int]], d: Mapping[str, Any]) -> list[Any]:
    return fused(trials, d, PRUNER)


def pruned_late(trials: Sequence[tuple[dict[str, Any], int]], d: Mapping[str, Any]) -> list[Any]:
    return fused(trials, d, LATE_PRUNER)


def _arrays(d: Mapping[str, Any]) -> tuple[Any, ...]:
    return d["X_train"], d["y_train"], d["X_val"], d["y_val"]


PATHS = {"separate": separate, "fused": fused, "pruned": pruned, "pruned_late": pruned_late}


def timed(fn: Any, trials: Any, d: Mapping[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    results = fn(trials, d)
    seconds = time.perf_counter() - started
    epochs = sum(len(r.curves.get("train_loss", ())) for r in results)
    return {
        "seconds": seconds,
        "samples_per_s": len(d["y_train"]) * epochs / seconds,
        "epochs": epochs,
        "best_val_accuracy": best_trial(results).metrics["val_accuracy"],
        "statuses": {s: sum(r.status == s for r in results) for s in TRIAL_STATUSES},
    }


def one_repeat(
    d: Mapping[str, Any], seed: int, shared: Sequence[str], paths: Sequence[str]
) -> dict[str, Any]:
    trials = round_trials(seed, shared)
    # Rotate which path goes first, so drift in the shared machine's load hits all alike.
    order = list(paths[seed % len(paths) :]) + list(paths[: seed % len(paths)])
    runs = {name: timed(PATHS[name], trials, d) for name in order}
    settings = [estimator_settings(FIXED, params, s, n_threads=1) for params, s in trials]
    row: dict[str, Any] = {
        "seed": seed,
        "group_sizes": sorted((len(g) for g in group_by_structure(settings)), reverse=True),
    }
    for name in paths:
        row[name] = runs[name]
        if name != "separate":
            row[f"ratio_separate_over_{name}"] = runs["separate"]["seconds"] / runs[name]["seconds"]
    return row


def interval(values: Sequence[float]) -> dict[str, float]:
    """Mean with a 95% t interval."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return {"mean": mean, "low": math.nan, "high": math.nan}
    half = stats.t.ppf(0.975, len(values) - 1) * statistics.stdev(values) / len(values) ** 0.5
    return {"mean": mean, "low": mean - half, "high": mean + half}


def summary(rows: Sequence[Mapping[str, Any]], paths: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"group_sizes": [r["group_sizes"] for r in rows]}
    for name in paths:
        out[name] = {
            "seconds_median": statistics.median(r[name]["seconds"] for r in rows),
            "samples_per_s_median": statistics.median(r[name]["samples_per_s"] for r in rows),
            "epochs_median": statistics.median(r[name]["epochs"] for r in rows),
            "best_val_accuracy": interval([r[name]["best_val_accuracy"] for r in rows]),
        }
        if name != "separate":
            ratios = [r[f"ratio_separate_over_{name}"] for r in rows]
            out[name]["paired_ratio_median"] = statistics.median(ratios)
            out[name]["paired_ratios"] = ratios
    out["repeats"] = rows
    return out


def verdicts(entry: Mapping[str, Any], target: float) -> dict[str, Any]:
    drawn = entry["as_drawn"]
    today = drawn["separate"]
    out: dict[str, Any] = {
        "fused_speed_target": target,
        "fused_speed_met": drawn["fused"]["paired_ratio_median"] >= target,
        "fused_speed_met_cohort_width": entry["cohort_width"]["fused"]["paired_ratio_median"]
        >= target,
    }
    for name in ("pruned", "pruned_late"):
        cut = drawn[name]
        out[name] = {
            "accuracy_within_today_s_interval": bool(
                cut["best_val_accuracy"]["mean"] >= today["best_val_accuracy"]["low"]
            ),
            # Half the time: the median of the per-seed paired ratios, today's over this, >= 2.
            "time_at_most_half_of_today_s": cut["paired_ratio_median"] >= 2.0,
            "median_seconds_over_today_s": cut["seconds_median"] / today["seconds_median"],
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--cohort-repeats", type=int, default=5)
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    report: dict[str, Any] = {
        "benchmark": "search_speed",
        "round": f"CoarseToFine round 1, {TRIALS} trials, default space, fixed {FIXED}",
        "separate": f"{WORKERS} threads x 1 torch thread, one make_train_fn fit per trial",
        "fused": f"make_fused_round: structure groups in lockstep on {WORKERS} threads x 1",
        "pruned": f"fused with successive halving, min_epochs {PRUNER.min_epochs}, "
        f"eta {PRUNER.reduction_factor} (search.pruning's defaults)",
        "pruned_late": f"the same with min_epochs {LATE_PRUNER.min_epochs}",
        "cohorts": {
            name: f"{shared} drawn once per cohort of {COHORT}" for name, shared in COHORTS.items()
        },
        "warm_up": "one untimed round of each path per dataset first (torch's first calls)",
        "machine": {"python": platform.python_version(), "cpu_count": os.cpu_count()},
        "load_average_at_start": os.getloadavg(),
        "datasets": {},
    }
    for name in args.datasets:
        d = prepare(name)
        entry: dict[str, Any] = {"train_rows": len(d["y_train"]), "val_rows": len(d["y_val"])}
        one_repeat(d, 99, (), list(PATHS))  # warm-up: torch's first calls cost seconds
        plans = [("as_drawn", (), list(PATHS), args.repeats)]
        plans += [
            (v, shared, ["separate", "fused"], args.cohort_repeats) for v, shared in COHORTS.items()
        ]
        for variant, shared, paths, repeats in plans:
            rows = [one_repeat(d, seed, shared, paths) for seed in range(repeats)]
            entry[variant] = summary(rows, paths)
            line = "  ".join(
                f"{p} {entry[variant][p]['seconds_median']:6.2f}s "
                f"acc {entry[variant][p]['best_val_accuracy']['mean']:.3f}"
                for p in paths
            )
            print(f"{name:16s} {variant:12s} {line}", flush=True)
        entry["verdicts"] = verdicts(entry, TARGETS[name])
        print(f"{name:16s} {entry['verdicts']}", flush=True)
        report["datasets"][name] = entry
    report["load_average_at_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
