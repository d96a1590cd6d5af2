"""Selection study: which way of turning a search into a champion predicts the next batch best?

The backtest (bench/backtest.py) judges the whole loop; this study isolates one step of it, the
choice of the champion-to-be, so that each selection rule can be compared over many seeds in
minutes. For each window (one batch) and each search seed, a caviar search (the default space
and budget) is trained on the window's train + validation rows; then each rule makes a model,
refit on the whole window (holdout included, as a promoted champion is), and scores the next
batch. The fixed configuration refit on the same batch (the cron refit) is scored beside it.

Rules: ``best`` (the single best trial by validation accuracy, today's), ``ensemble`` (greedy
ensemble selection, models/ensemble.py). Switches: ``folds`` (1: one validation slice; k:
time-blocked k-fold cross-validation, models/folds.py), ``standing`` (the fixed configuration
trained as the first trial).

Run: .venv/bin/python bench/selection_study.py --dataset seattle-weather --seeds 0 1 2 3 4
      [--folds 1 5] [--standing 0 1] [--out bench/results/selection_study.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from data.loading import batches
from data.preprocessing import encode_split, encode_train_test, time_split
from data.schema import DatasetSpec, resolve_features
from models.baselines import fit_fixed, fit_hist_gradient_boosting
from models.ensemble import select_ensemble
from models.folds import judged_labels, time_blocked_folds
from models.refit import refit
from models.search.caviar import CoarseToFine
from models.search.driver import run_search
from models.search.space import SearchSpace
from models.search.warm import standing_configuration
from models.trial import make_folds_train_fn

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "data" / "samples"
FIXED = {"max_epochs": 40, "patience": 8}


def dataset(name: str, folder: Path) -> DatasetSpec:
    if name == "seattle-weather":
        return DatasetSpec(
            path=SAMPLES / "seattle-weather.csv", label="weather", time="date", every="YS"
        )
    if name == "rainfall":
        path = folder / "rainfall-18000.csv"
        pd.read_csv(SAMPLES / "rainfall.csv").iloc[:18_000].to_csv(path, index=False)
        return DatasetSpec(path=path, label="rain", every=1500)
    raise ValueError(name)


def run_window(
    spec: DatasetSpec,
    window: pd.DataFrame,
    following: pd.DataFrame,
    *,
    seed: int,
    folds: int,
    standing: bool,
    steps: int,
    max_members: int,
) -> dict[str, Any]:
    split = time_split(window, spec, validation=0.2, holdout=0.2)
    features = resolve_features(spec, window)
    encoded = encode_split(split, spec, features)
    k = folds if len(encoded.y_train) + len(encoded.y_val) < 2000 else 1
    fold_rows = time_blocked_folds(
        encoded.X_train, encoded.y_train, encoded.X_val, encoded.y_val, k
    )
    train_fn = make_folds_train_fn(fold_rows, fixed_params=FIXED, n_threads=1)
    space = SearchSpace.default()
    initial = [standing_configuration(space, FIXED)] if standing else []
    strategy = CoarseToFine(
        space, rounds=3, trials_per_round=6, top_k=3, seed=seed, initial=initial
    )
    started = time.perf_counter()
    outcome = run_search(strategy, train_fn, max_consecutive_failures=18)
    search_s = time.perf_counter() - started
    y_sel = judged_labels(fold_rows)
    classes = np.unique(np.concatenate([encoded.y_train, encoded.y_val]))
    y_index = np.searchsorted(classes, y_sel)
    probs = {r.index: r.predictions for r in outcome.results if r.ok and r.predictions is not None}
    choice = select_ensemble(probs, y_index, steps=steps, max_members=max_members)
    X_win, y_win, X_next, y_next = encode_train_test(window, following, spec, features)
    by_index = {r.index: r for r in outcome.results}
    scores: dict[str, float] = {}
    best_model = refit(outcome.best, FIXED, X_win, y_win, n_threads=1)
    scores["best"] = float(np.mean(best_model.predict(X_next) == y_next))
    labels = np.unique(np.concatenate([y_win, y_next]))
    total = np.zeros((len(X_next), len(labels)))
    for index, weight in choice.members:
        model = refit(by_index[index], FIXED, X_win, y_win, n_threads=1)
        total += weight * _aligned(model, X_next, labels)
    predicted = labels[np.argmax(total, axis=1)]
    scores["ensemble"] = float(np.mean(predicted == y_next))
    fixed = fit_fixed(X_win, y_win, fixed={**FIXED, "n_threads": 1}, seed=seed)
    scores["fixed_refit"] = float(np.mean(fixed.predict(X_next) == y_next))
    hgb = fit_hist_gradient_boosting(X_win, y_win, seed=seed)
    scores["hgb"] = float(np.mean(hgb.predict(X_next) == y_next))
    return {
        "scores": scores,
        "members": [list(m) for m in choice.members],
        "best_index": outcome.best.index,
        "judged_rows": len(y_sel),
        "folds": k,
        "search_s": round(search_s, 1),
    }


def _aligned(model: Any, X: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """The model's probabilities in the columns of ``classes`` (labels it never saw get 0)."""
    proba = model.predict_proba(X)
    out = np.zeros((len(X), len(classes)))
    out[:, np.searchsorted(classes, model.classes_)] = proba
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="seattle-weather")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--folds", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--standing", type=int, nargs="+", default=[1])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--max-members", type=int, default=5)
    parser.add_argument("--windows", type=int, default=0, help="only the first N windows")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as folder:
        spec = dataset(args.dataset, Path(folder))
        ordered = list(batches(spec))
        pairs = list(zip(ordered[:-1], ordered[1:], strict=True))
        if args.windows:
            pairs = pairs[: args.windows]
        for folds in args.folds:
            for standing in args.standing:
                for seed in args.seeds:
                    for window, following in pairs:
                        row = run_window(
                            spec,
                            window.frame,
                            following.frame,
                            seed=seed,
                            folds=folds,
                            standing=bool(standing),
                            steps=args.steps,
                            max_members=args.max_members,
                        )
                        row.update(
                            folds_setting=folds, standing=standing, seed=seed, batch=following.id
                        )
                        runs.append(row)
                        print(json.dumps(row), flush=True)
    summary = summarise(runs)
    print(json.dumps(summary, indent=1))
    if args.out:
        args.out.write_text(json.dumps({"runs": runs, "summary": summary}, indent=1))


def summarise(runs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    keys = sorted({(r["folds_setting"], r["standing"]) for r in runs})
    for folds, standing in keys:
        chosen = [r for r in runs if (r["folds_setting"], r["standing"]) == (folds, standing)]
        seeds = sorted({r["seed"] for r in chosen})
        for rule in ("best", "ensemble", "fixed_refit", "hgb"):
            per_seed = [
                float(np.mean([r["scores"][rule] for r in chosen if r["seed"] == s])) for s in seeds
            ]
            out.append(
                {
                    "folds": folds,
                    "standing": standing,
                    "rule": rule,
                    "mean": round(float(np.mean(per_seed)), 4),
                    "worst": round(min(per_seed), 4),
                    "best": round(max(per_seed), 4),
                }
            )
    return out


if __name__ == "__main__":
    main()
