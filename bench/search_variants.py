"""Search variants: which changes to coarse-to-fine close its gap to TPE on seattle-weather?

The ablation behind issue 3's target, kept with its figures.
Each variant keeps the benchmark's budget (4 rounds x 8 trials), model and data
(`search_efficiency.prepare`), and changes only how round r + 1's space follows from the results:

- hull: random samples of the zoom, the hull of the top 3 widened by 0.1 (`CoarseToFine` with
  `candidates_per_trial=1`, which driftune shipped first);
- top_k=2, top_k=4, margin=0: the same hull with other settings;
- shipped: `CoarseToFine` as driftune runs it now: the hull, sampled 24 times per trial, keeping
  the candidates with the highest density ratio of the top 3 to the rest (`models.search.promise`);
- regions: one box per top-3 trial (a mixture), half-width 0.15 of the whole space, x0.6 a round;
- capped: the hull, but no wider than half its parent per parameter, else centred on the best;
- smoothed ridge / smoothed gp: rank trials by a fit (ridge on the unit coordinates, or a
  Gaussian process with a noise term) of validation accuracy before taking the top 3, so one
  lucky trial weighs less than a trend.

Baselines: random (one round of 32) and Optuna's TPE, sequential (each trial told before the
next is asked) and batched (4 rounds of 8 asked together, as driftune trains a round). Seeds
100-139, apart from the benchmark's 0-19, so choosing a variant here does not tune the benchmark.

Run: .venv/bin/python bench/search_variants.py [--only NAME ...]
     ->  bench/results/search_variants.json (--only reruns those variants and keeps the others')
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import stats
from search_efficiency import BenchTrial, prepare, run_tpe
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel
from sklearn.linear_model import Ridge

from models import CoarseToFine, SearchError, SearchSpace, run_search
from models.search.discrete import _Finite
from models.search.distributions import Distribution
from models.search.driver import Strategy
from models.search.trials import Proposal, TrialResult, best_trial, ranked, trial_seed

RESULTS = Path(__file__).parent / "results" / "search_variants.json"
DATASET = "seattle-weather"
SEEDS = tuple(range(100, 140))
ROUNDS, PER_ROUND, TOP_K = 4, 8, 3


def unit_width(child: Distribution, parent: Distribution) -> float:
    """The child's share of its parent, on the parent's own scale."""
    if isinstance(parent, _Finite) and isinstance(child, _Finite):
        return len(child.options) / len(parent.options)
    low, high = getattr(child, "low"), getattr(child, "high")  # noqa: B009
    return parent.to_unit(high) - parent.to_unit(low)


def smoothed(space: SearchSpace, results: Sequence[TrialResult], how: str) -> list[TrialResult]:
    """The ok results with a 'smoothed' metric: the fit's prediction at each trial."""
    ok = ranked(results)
    X = np.array([[d.to_unit(r.params[n]) for n, d in space.items()] for r in ok])
    y = np.array([r.metrics["val_accuracy"] for r in ok])
    if how == "gp":
        kernel = ConstantKernel() * RBF(np.full(X.shape[1], 0.5), (0.05, 20)) + WhiteKernel(0.1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # bounds hit on 8 points: a flat fit, ranked as is
            fit = GaussianProcessRegressor(kernel, normalize_y=True, random_state=0).fit(X, y)
        predicted = fit.predict(X)
    else:
        predicted = Ridge(alpha=1.0).fit(X, y).predict(X)
    return [
        dataclasses.replace(r, metrics={**r.metrics, "smoothed": float(p)})
        for r, p in zip(ok, predicted, strict=True)
    ]


@dataclasses.dataclass(frozen=True)
class Variant:
    """Coarse-to-fine with one change to how the next round's space follows from the results."""

    space: SearchSpace
    seed: int
    kind: str  # "regions", "capped", "ridge" or "gp"

    def propose(self, results: Sequence[TrialResult]) -> list[Proposal]:
        done = len(results)
        round_ = done // PER_ROUND + 1
        if round_ > ROUNDS:
            return []
        rng = np.random.default_rng([self.seed, round_])
        if round_ == 1 or not ranked(results):
            configs = self.space.sample(PER_ROUND, rng)
        elif self.kind == "regions":
            configs = self.regions(results, round_, rng)
        else:
            configs = self.space_for(results).sample(PER_ROUND, rng)
        return [
            Proposal(done + i, round_, c, trial_seed(self.seed, done + i))
            for i, c in enumerate(configs)
        ]

    def regions(
        self, results: Sequence[TrialResult], round_: int, rng: np.random.Generator
    ) -> list[dict[str, Any]]:
        margin = 0.15 * 0.6 ** (round_ - 2)
        boxes = [
            self.space.zoom([r], 1, margin=margin, min_width=min(1.0, 2 * margin))
            for r in ranked(results)[:TOP_K]
        ]
        return [boxes[i % len(boxes)].sample(1, rng)[0] for i in range(PER_ROUND)]

    def space_for(self, results: Sequence[TrialResult]) -> SearchSpace:
        space = self.space
        for round_ in range(1, min(len(results) // PER_ROUND, ROUNDS - 1) + 1):
            so_far = list(results[: round_ * PER_ROUND])
            metric = "val_accuracy"
            if self.kind in ("ridge", "gp"):
                so_far, metric = smoothed(self.space, so_far, self.kind), "smoothed"
            hull = space.zoom(so_far, TOP_K, metric=metric)
            if self.kind == "capped":
                hull = self.capped(space, hull, ranked(so_far)[0])
            space = hull
        return space

    @staticmethod
    def capped(parent: SearchSpace, hull: SearchSpace, best: TrialResult) -> SearchSpace:
        child = {}
        for name, dist in parent.items():
            keep = unit_width(hull[name], dist) <= 0.5 + 1e-9
            child[name] = hull[name] if keep else dist.narrow([best.params[name]], 0.25, 0.5)
        return SearchSpace(child)


def hull(space: SearchSpace, seed: int, **settings: Any) -> CoarseToFine:
    """Coarse-to-fine without the density ratio: plain random samples of each zoom."""
    chosen = {"top_k": TOP_K, "candidates_per_trial": 1, **settings}
    return CoarseToFine(space, ROUNDS, PER_ROUND, seed=seed, **chosen)


def make(name: str, seed: int) -> Strategy:
    space = SearchSpace.default()
    settings: Mapping[str, Callable[[], Strategy]] = {
        "random": lambda: CoarseToFine(space, rounds=1, trials_per_round=32, seed=seed),
        "hull": lambda: hull(space, seed),
        "top_k=2": lambda: hull(space, seed, top_k=2),
        "top_k=4": lambda: hull(space, seed, top_k=4),
        "margin=0": lambda: hull(space, seed, margin=0.0),
        "shipped": lambda: CoarseToFine(space, ROUNDS, PER_ROUND, TOP_K, seed),
        "regions": lambda: Variant(space, seed, "regions"),
        "capped": lambda: Variant(space, seed, "capped"),
        "smoothed ridge": lambda: Variant(space, seed, "ridge"),
        "smoothed gp": lambda: Variant(space, seed, "gp"),
    }
    return settings[name]()


NAMES = (
    "random",
    "hull",
    "top_k=2",
    "top_k=4",
    "margin=0",
    "regions",
    "capped",
    "smoothed ridge",
    "smoothed gp",
    "shipped",
    "tpe",
    "tpe batched",
)
_TRAIN: dict[str, BenchTrial] = {}


def one_run(job: tuple[str, int]) -> dict[str, Any]:
    name, seed = job
    torch.set_num_threads(1)
    train_fn = _TRAIN.setdefault(DATASET, BenchTrial(prepare(DATASET)))
    if name.startswith("tpe"):
        batch = PER_ROUND if name == "tpe batched" else 1
        results = run_tpe(train_fn, seed, ROUNDS * PER_ROUND, batch)
    else:
        try:
            results = list(run_search(make(name, seed), train_fn).results)
        except SearchError as error:
            results = list(error.results)
    best = best_trial(results)
    return {
        "variant": name,
        "seed": seed,
        "best_val_accuracy": best.metrics["val_accuracy"],
        "holdout_accuracy": best.metrics["holdout_accuracy"],
    }


def summarise(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per variant: means, and the paired difference to TPE in points with a 95% t-interval."""

    def column(name: str, key: str) -> np.ndarray:
        mine = sorted((r for r in runs if r["variant"] == name), key=lambda r: r["seed"])
        return np.array([r[key] for r in mine]) * 100

    table = {}
    for name in NAMES:
        row: dict[str, Any] = {}
        for key in ("best_val_accuracy", "holdout_accuracy"):
            mine, tpe = column(name, key), column("tpe", key)
            row[key] = {"mean": statistics.fmean(mine) / 100}
            if name != "tpe":
                interval = stats.ttest_rel(mine, tpe).confidence_interval(0.95)
                row[key]["minus_tpe_points"] = {
                    "mean": float(np.mean(mine - tpe)),
                    "ci95_low": float(interval.low),
                    "ci95_high": float(interval.high),
                }
        table[name] = row
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only", nargs="+", choices=NAMES, help="rerun these variants only")
    args = parser.parse_args()
    started = time.perf_counter()
    names = args.only or NAMES
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        runs = list(pool.map(one_run, [(n, s) for n in names for s in SEEDS]))
    if args.only:  # keep the earlier runs of the variants not rerun
        earlier = json.loads(RESULTS.read_text())["runs"]
        runs += [r for r in earlier if r["variant"] in NAMES and r["variant"] not in names]
    table = summarise(runs)
    for name, row in table.items():
        val, hold = row["best_val_accuracy"], row["holdout_accuracy"]
        line = f"{name:15} val {val['mean']:.4f} holdout {hold['mean']:.4f}"
        if gap := val.get("minus_tpe_points"):
            line += (
                f"  val - TPE {gap['mean']:+.2f} [{gap['ci95_low']:+.2f}, {gap['ci95_high']:+.2f}]"
            )
        print(line)
    report = {
        "dataset": DATASET,
        "seeds": list(SEEDS),
        "budget": f"{ROUNDS} rounds x {PER_ROUND} trials, top {TOP_K}",
        "table": table,
        "runs": runs,
        "last_rerun": list(names),
        "wall_seconds_of_last_rerun": time.perf_counter() - started,
    }
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
