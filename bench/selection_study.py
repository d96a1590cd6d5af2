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
from models.estimator import BNSoftmaxClassifier
from models.folds import judged_labels, time_blocked_folds
from models.refit import refit
from models.search.caviar import CoarseToFine
from models.search.driver import run_search
from models.search.space import SearchSpace
from models.search.warm import standing_configuration
from models.trial import make_folds_train_fn, trial_settings

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
    extra = _bench_datasets()
    frame, overrides = extra.DATASETS[name]()
    path = folder / f"{name}.csv"
    frame.to_csv(path, index=False)
    return DatasetSpec(path=path, **overrides["dataset"])


def _bench_datasets() -> Any:
    """bench/datasets.py, loaded by path (bench/ is not a package)."""
    import importlib.util

    location = Path(__file__).parent / "datasets.py"
    spec = importlib.util.spec_from_file_location("driftune_bench_datasets", location)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
    save_to: Path | None = None,
    recipe: str = "replay",
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
    X_win, y_win, X_next, y_next = encode_train_test(window, following, spec, features)
    labels = np.unique(np.concatenate([y_win, y_next]))
    by_index = {r.index: r for r in outcome.results}
    refits: dict[int, np.ndarray] = {}

    def refit_proba(index: int) -> np.ndarray:
        # Each trial is refit once, whichever rules use it.
        if index not in refits:
            if recipe == "replay":
                model = refit(by_index[index], FIXED, X_win, y_win, n_threads=1)
            else:
                # As the cron job fits: the trial's settings, early stopping on a held-out tenth
                # of the window (the estimator's validation_fraction), best weights restored.
                settings = {**trial_settings(by_index[index], FIXED), "n_threads": 1}
                model = BNSoftmaxClassifier(**settings).fit(X_win, y_win)
            refits[index] = _aligned(model, X_next, labels)
        return refits[index]

    def mix(members: Sequence[tuple[int, float]]) -> np.ndarray:
        return sum(weight * refit_proba(index) for index, weight in members)  # type: ignore[return-value]

    choices = selection_rules(probs, y_index, outcome.best.index, steps, max_members, seed)
    mixes = {rule: mix(members) for rule, members in choices.items()}
    fixed_seeds = [
        _aligned(
            fit_fixed(X_win, y_win, fixed={**FIXED, "n_threads": 1}, seed=seed * 100 + i),
            X_next,
            labels,
        )
        for i in range(5)
    ]
    mixes["fixed_x5"] = np.mean(fixed_seeds, axis=0)
    if standing:
        mixes["ens5+standing"] = 0.5 * mixes["ens5"] + 0.5 * refit_proba(0)
        mixes["ens5+fixed_x5"] = 0.5 * mixes["ens5"] + 0.5 * mixes["fixed_x5"]
    scores = {rule: _accuracy(p, labels, y_next) for rule, p in mixes.items()}
    if save_to is not None:
        # Every trial refit, so that other rules can be scored later without searching again.
        for index in probs:
            refit_proba(index)
        np.savez_compressed(
            save_to,
            indices=np.array(sorted(probs)),
            validation=np.stack([probs[i] for i in sorted(probs)]),
            y_index=y_index,
            following=np.stack([refits[i] for i in sorted(probs)]),
            fixed_seeds=np.stack(fixed_seeds),
            labels=np.asarray(labels, dtype=str),
            y_next=np.asarray(y_next, dtype=str),
            best_index=outcome.best.index,
        )
    fixed = fit_fixed(X_win, y_win, fixed={**FIXED, "n_threads": 1}, seed=seed)
    scores["fixed_refit"] = float(np.mean(fixed.predict(X_next) == y_next))
    hgb = fit_hist_gradient_boosting(X_win, y_win, seed=seed, n_threads=1)
    scores["hgb"] = float(np.mean(hgb.predict(X_next) == y_next))
    return {
        "scores": scores,
        "members": {rule: [list(m) for m in members] for rule, members in choices.items()},
        "best_index": outcome.best.index,
        "judged_rows": len(y_sel),
        "folds": k,
        "search_s": round(search_s, 1),
    }


def selection_rules(
    probs: Mapping[int, np.ndarray],
    y_index: np.ndarray,
    best_index: int,
    steps: int,
    max_members: int,
    seed: int,
) -> dict[str, Sequence[tuple[int, float]]]:
    """Each rule's members (trial index, weight), all chosen on the same validation rows."""
    rules: dict[str, Sequence[tuple[int, float]]] = {"best": [(best_index, 1.0)]}
    rules["ens5"] = select_ensemble(probs, y_index, steps=steps, max_members=max_members).members
    rules["ens10"] = select_ensemble(probs, y_index, steps=2 * steps, max_members=10).members
    losses = {
        i: float(-np.mean(np.log(np.clip(p[np.arange(len(y_index)), y_index], 1e-15, 1))))
        for i, p in probs.items()
    }
    top = sorted(losses, key=lambda i: (losses[i], i))[:5]
    rules["top5"] = [(i, 1 / len(top)) for i in top]
    rules["bagged"] = bagged_selection(probs, y_index, steps, max_members, seed)
    if 0 in probs:
        rules["standing"] = [(0, 1.0)]
    return rules


def bagged_selection(
    probs: Mapping[int, np.ndarray],
    y_index: np.ndarray,
    steps: int,
    max_members: int,
    seed: int,
    bags: int = 20,
    fraction: float = 0.5,
) -> list[tuple[int, float]]:
    """Caruana et al. (2006)'s bagged ensemble selection: greedy selection on random halves of
    the trials, the weights averaged over the bags (less overfit to the validation rows)."""
    rng = np.random.default_rng(seed)
    indices = sorted(probs)
    weights: dict[int, float] = {}
    size = max(2, round(fraction * len(indices)))
    for _ in range(bags):
        bag = rng.choice(indices, size=min(size, len(indices)), replace=False)
        choice = select_ensemble(
            {int(i): probs[int(i)] for i in bag}, y_index, steps=steps, max_members=max_members
        )
        for index, weight in choice.members:
            weights[index] = weights.get(index, 0.0) + weight / bags
    return sorted(weights.items())


def _accuracy(proba: np.ndarray, labels: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(labels[np.argmax(proba, axis=1)] == y))


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
    parser.add_argument(
        "--refit",
        choices=["replay", "early-stopped"],
        default="replay",
        help="replay: the trial's epochs on the whole window (driftune's refit); early-stopped: "
        "the trial's settings fitted as the cron job fits (a tenth held out to stop on)",
    )
    parser.add_argument(
        "--save", type=Path, default=None, help="a folder for every trial's refit probabilities"
    )
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
                        saved = (
                            args.save / f"{args.dataset}-{seed}-{following.id}.npz"
                            if args.save
                            else None
                        )
                        if saved is not None and saved.exists():
                            continue  # scored by an earlier run: --analyse reads it
                        row = run_window(
                            spec,
                            window.frame,
                            following.frame,
                            seed=seed,
                            folds=folds,
                            standing=bool(standing),
                            steps=args.steps,
                            max_members=args.max_members,
                            save_to=saved,
                            recipe=args.refit,
                        )
                        row.update(
                            folds_setting=folds, standing=standing, seed=seed, batch=following.id
                        )
                        runs.append(row)
                        print(json.dumps(row), flush=True)
    summary = summarise(runs)
    for line in summary:
        print(json.dumps(line))
    if args.out:
        args.out.write_text(json.dumps({"runs": runs, "summary": summary}, indent=1))


def summarise(runs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    keys = sorted({(r["folds_setting"], r["standing"]) for r in runs})
    for folds, standing in keys:
        chosen = [r for r in runs if (r["folds_setting"], r["standing"]) == (folds, standing)]
        seeds = sorted({r["seed"] for r in chosen})
        rules = sorted({rule for r in chosen for rule in r["scores"]})
        for rule in rules:
            per_seed = [
                float(np.mean([r["scores"][rule] for r in chosen if r["seed"] == s])) for s in seeds
            ]
            fixed = [
                float(np.mean([r["scores"]["fixed_refit"] for r in chosen if r["seed"] == s]))
                for s in seeds
            ]
            paired = np.subtract(per_seed, fixed)
            out.append(
                {
                    "folds": folds,
                    "standing": standing,
                    "rule": rule,
                    "mean": round(float(np.mean(per_seed)), 4),
                    "worst": round(min(per_seed), 4),
                    "best": round(max(per_seed), 4),
                    "minus_fixed_points": round(100 * float(np.mean(paired)), 2),
                    "worst_seed_minus_fixed_points": round(100 * float(min(paired)), 2),
                }
            )
    return out


if __name__ == "__main__":
    main()
