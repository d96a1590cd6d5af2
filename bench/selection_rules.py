"""Score selection rules offline on the windows bench/selection_study.py saved with --save.

Each saved window holds every ok trial's validation probabilities, the validation labels, every
trial refit on the whole window and scored on the next batch, and five fixed-configuration refits
with different seeds. A rule here only picks trials and weights from the validation side, so
many rules are compared on the same searches, in seconds, without training again.

Run: .venv/bin/python bench/selection_rules.py FOLDER [--out bench/results/selection_rules.json]
"""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from models.ensemble import select_ensemble, select_top

Weights = dict[int, float]
NAME = re.compile(r"(?P<dataset>.+?)-(?P<seed>\d+)-(?P<batch>(?:rows-|\d{4}-).*)\.npz$")


def _log_loss(proba: np.ndarray, y: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(proba[np.arange(len(y)), y], 1e-15, 1.0))))


def bagged(val: Mapping[int, np.ndarray], y: np.ndarray, seed: int, keep: int = 0) -> Weights:
    """Caruana et al. (2006): greedy selection on 20 random halves of the trials, averaged;
    ``keep`` > 0 keeps only the heaviest ``keep`` members (renormalised)."""
    rng = np.random.default_rng(seed)
    indices = sorted(val)
    weights: dict[int, float] = defaultdict(float)
    size = min(len(indices), max(2, round(len(indices) / 2)))
    for _ in range(20):
        bag = rng.choice(indices, size=size, replace=False)
        choice = select_ensemble({int(i): val[int(i)] for i in bag}, y, steps=20, max_members=5)
        for index, weight in choice.members:
            weights[index] += weight / 20
    if keep:
        top = sorted(weights, key=lambda i: (-weights[i], i))[:keep]
        total = sum(weights[i] for i in top)
        return {i: weights[i] / total for i in top}
    return dict(weights)


def rules(val: Mapping[int, np.ndarray], y: np.ndarray, best: int, seed: int) -> dict[str, Weights]:
    """Every rule's trials and weights, from the validation side only."""
    out: dict[str, Weights] = {"best": {best: 1.0}}
    for members, steps in ((3, 20), (5, 20), (5, 50), (10, 40)):
        chosen = select_ensemble(val, y, steps=steps, max_members=members)
        out[f"greedy {members}/{steps}"] = dict(chosen.members)
    for members in (3, 5, 8, 12):
        out[f"top {members}"] = dict(select_top(val, y, max_members=members).members)
    out["bagged greedy"] = bagged(val, y, seed)
    out["bagged greedy, 5 heaviest"] = bagged(val, y, seed, keep=5)
    if 0 in val:
        out["standing trial"] = {0: 1.0}
    return out


def score_window(path: Path) -> dict[str, float]:
    saved = np.load(path, allow_pickle=False)
    indices = [int(i) for i in saved["indices"]]
    val = {i: saved["validation"][n] for n, i in enumerate(indices)}
    following = {i: saved["following"][n] for n, i in enumerate(indices)}
    labels, y_next = saved["labels"], saved["y_next"]
    seed = int(NAME.search(path.name)["seed"])  # type: ignore[index]

    def accuracy(proba: np.ndarray) -> float:
        return float(np.mean(labels[np.argmax(proba, axis=1)] == y_next))

    scores = {
        rule: accuracy(sum(w * following[i] for i, w in weights.items()))  # type: ignore[arg-type]
        for rule, weights in rules(val, saved["y_index"], int(saved["best_index"]), seed).items()
    }
    fixed = saved["fixed_seeds"]
    scores["fixed refit (one seed)"] = accuracy(fixed[0])
    scores["fixed refit, 5 seeds averaged"] = accuracy(fixed.mean(axis=0))
    return scores


def summarise(folder: Path) -> dict[str, Any]:
    """Per dataset and rule: mean over seeds, worst seed, and the gap to the one-seed fixed
    refit (mean, and worst seed paired)."""
    per: dict[str, dict[str, dict[int, list[float]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(list))
    )
    for path in sorted(folder.glob("*.npz")):
        match = NAME.search(path.name)
        if match is None:
            continue
        for rule, score in score_window(path).items():
            per[match["dataset"]][rule][int(match["seed"])].append(score)
    out: dict[str, Any] = {}
    for dataset, by_rule in per.items():
        baseline = {s: float(np.mean(v)) for s, v in by_rule["fixed refit (one seed)"].items()}
        windows = {str(s): len(v) for s, v in by_rule["fixed refit (one seed)"].items()}
        table = {}
        for rule, by_seed in by_rule.items():
            means = {s: float(np.mean(v)) for s, v in by_seed.items()}
            gaps = [means[s] - baseline[s] for s in means]
            table[rule] = {
                "mean": round(float(np.mean(list(means.values()))), 4),
                "worst_seed": round(min(means.values()), 4),
                "minus_fixed_points": round(100 * float(np.mean(gaps)), 2),
                "worst_seed_minus_fixed_points": round(100 * min(gaps), 2),
            }
        ranked = dict(sorted(table.items(), key=lambda kv: -kv[1]["mean"]))
        out[dataset] = {"windows_per_seed": windows, "rules": ranked}
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", type=Path)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    summary = summarise(args.folder)
    for dataset, figures in summary.items():
        print(dataset, figures["windows_per_seed"])
        for rule, f in figures["rules"].items():
            gap, worst_gap = f["minus_fixed_points"], f["worst_seed_minus_fixed_points"]
            print(
                f"  {rule:32s} {f['mean']:.4f}  worst {f['worst_seed']:.4f}  "
                f"vs fixed {gap:+.2f} (worst seed {worst_gap:+.2f})"
            )
    if args.out:
        args.out.write_text(json.dumps({"benchmark": "selection_rules", **summary}, indent=1))


if __name__ == "__main__":
    main()
