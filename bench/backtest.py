"""Backtest benchmark: does driftune's loop keep a better model than the policies it replaces?

Every run goes through `flows.backtest.backtest` (the `driftune backtest` command): the real
check-drift, retune and gate flows replay a dataset batch by batch in a scratch store, and each
batch is scored by the current champion before the flows see it, beside baselines refit on the
batch before (the fixed default configuration, HistGradientBoosting, and on seattle a 24-trial
random search).

Datasets, default settings (the shipped configs in deploy/configs, driftune's default policy):
- seattle-weather: one batch a calendar year; the first tune on 2012, then 2013-2015 scored.
  Three search seeds (search.seed 0-2): with three scored batches one run is a small sample.
- rainfall: 12 batches of 1,500 rows (the first 18,000 rows; the 159 rows left over make no
  batch); the first tune on batch 1, then 11 scored. One search seed (a run takes minutes).

The ablation: each change of this issue alone, switched off in the shipped policy or on in the
first version's (see VARIANTS), on the same data, seeds and baselines.

False alarms: iid controls where nothing drifts, checked but never retuned (check-drift with
start_retune off, so each check meets the same first champion): rainfall's first 6,000 rows and
seattle's 2012, each shuffled with 10 seeds and cut into batches (rainfall 6 of 1,000 rows,
seattle 4 of 91-92 rows); the first batch tunes, every later one is a check. A check counts as a
false alarm when its verdict is drift (data drift or an accuracy drop): each would start a
retune in production.

Targets (issue 10): on both datasets driftune's mean next-batch accuracy >= the fixed-config
refit's + 1 point, and on seattle >= 0.61; no promotion lowering the next batch's accuracy by
more than 1 point; false alarms on at most 5% of iid checks.

Run: .venv/bin/python bench/backtest.py [--quick] [--resume]   ->  bench/results/backtest.json
(--resume keeps what an interrupted run wrote and runs the rest; each run records its commit.)
"""

from __future__ import annotations

import argparse
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


# Each variant overrides config sections of the shipped policy.
def _merge_static(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``overrides`` on ``base``, section by section (for the variant table below)."""
    return {key: {**base.get(key, {}), **overrides.get(key, {})} for key in {*base, *overrides}}


FIRST_VERSION = {
    "promotion": {"rule": "superiority", "refit_on_window": False},
    "window": {"candidates": []},
}
VARIANTS: dict[str, dict[str, Any]] = {
    "shipped": {},
    "first version": FIRST_VERSION,
    "shipped without the refit on the window": {"promotion": {"refit_on_window": False}},
    "shipped with the superiority gate": {"promotion": {"rule": "superiority"}},
    "shipped without the window choice": {"window": {"candidates": []}},
    "first version + refit on the window": _merge_static(
        FIRST_VERSION, {"promotion": {"refit_on_window": True}}
    ),
    "first version + non-inferiority gate": _merge_static(
        FIRST_VERSION, {"promotion": {"rule": "non_inferiority"}}
    ),
    "first version + window choice": _merge_static(
        FIRST_VERSION, {"window": {"candidates": [1, 2, 4, "all"]}}
    ),
}
SEEDS = {"seattle-weather": (0, 1, 2), "rainfall": (0,)}
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


DATASETS = {
    "seattle-weather": (lambda folder: SAMPLES / "seattle-weather.csv", {}),
    "rainfall": (rainfall_12_batches, {"dataset": {"every": 1500}}),
}


def replay(
    folder: Path,
    dataset: str,
    variant: str,
    seed: int,
    baselines: Sequence[str],
) -> dict[str, Any]:
    make_data, dataset_overrides = DATASETS[dataset]
    overrides = _merge(_merge(dataset_overrides, VARIANTS[variant]), {"search": {"seed": seed}})
    run_folder = folder / f"{dataset}-variant{list(VARIANTS).index(variant)}-seed{seed}"
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
    """driftune minus ``baseline`` per batch: mean and a 95% t-interval over the batches."""
    gaps = np.array([row["accuracy"]["driftune"] - row["accuracy"][baseline] for row in rows])
    mean = float(gaps.mean())
    if len(gaps) < 2:
        return {"mean": mean, "low": float("nan"), "high": float("nan")}
    half = float(stats.t.ppf(0.975, len(gaps) - 1) * gaps.std(ddof=1) / np.sqrt(len(gaps)))
    return {"mean": mean, "low": mean - half, "high": mean + half}


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
        "data_drift": sum(
            row["drift"] == "drift" and not row["accuracy_drop"] and bool(row["drifted_features"])
            for row in checks
        ),
        "rows": result["rows"],
    }


def headline(runs: Sequence[Mapping[str, Any]], variant: str) -> dict[str, Any]:
    """Per dataset: the variant's means over seeds and batches, against each baseline."""
    out: dict[str, Any] = {}
    for dataset in SEEDS:
        chosen = [r for r in runs if r["dataset"] == dataset and r["variant"] == variant]
        if not chosen:
            continue
        means = [r["summary"]["mean_accuracy"] for r in chosen]
        policies = list(means[0])
        effects = [e["gain"] for r in chosen for e in r["summary"]["promotion_effects"]]
        out[dataset] = {
            "seeds": [r["seed"] for r in chosen],
            "mean_accuracy": {p: float(np.mean([m[p] for m in means])) for p in policies},
            "driftune_per_seed": [m["driftune"] for m in means],
            "driftune_minus_fixed_points": 100
            * float(np.mean([m["driftune"] - m["fixed_refit"] for m in means])),
            "worst_promotion_effect_points": 100 * min(effects) if effects else None,
            "harmful_promotions": sum(r["summary"]["harmful_promotions"] for r in chosen),
            "promotions": sum(r["summary"]["promotions"] for r in chosen),
            "retunes": sum(r["summary"]["retunes"] for r in chosen),
        }
    return out


def ablation(runs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each variant's mean driftune accuracy per dataset, and its gap to the shipped policy."""
    table = []
    shipped = headline(runs, "shipped")
    for variant in VARIANTS:
        result = headline(runs, variant)
        row: dict[str, Any] = {"variant": variant}
        for dataset, figures in result.items():
            mean = figures["mean_accuracy"]["driftune"]
            reference = shipped[dataset]["mean_accuracy"]["driftune"]
            row[dataset] = {
                "driftune": mean,
                "minus_fixed_points": figures["driftune_minus_fixed_points"],
                "minus_shipped_points": 100 * (mean - reference),
                "promotions": figures["promotions"],
                "harmful_promotions": figures["harmful_promotions"],
            }
        table.append(row)
    return table


def false_alarms(controls: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for dataset in SEEDS:
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
    out["all"] = {
        "checks": checks,
        "alarms": sum(v["alarms"] for v in out.values()),
        "rate": sum(v["alarms"] for v in out.values()) / checks if checks else float("nan"),
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shipped policy, seed 0, 2 controls")
    parser.add_argument("--skip-controls", action="store_true")
    parser.add_argument("--controls-only", action="store_true")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the JSON goes")
    parser.add_argument(
        "--controls-from", type=Path, help="take the controls from an earlier --controls-only run"
    )
    parser.add_argument(
        "--runs-from", type=Path, help="take the replays from an earlier --skip-controls run"
    )
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=list(VARIANTS),
        help="replay only these policies (default all; --quick: shipped)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the replays and controls already in --results and run only the missing ones",
    )
    args = parser.parse_args()
    variants = ["shipped"] if args.quick else list(args.variants or VARIANTS)
    if args.controls_only or args.runs_from is not None:
        variants = []
    started = time.perf_counter()
    runs: list[dict[str, Any]] = []
    controls: list[dict[str, Any]] = []
    if args.runs_from is not None:
        runs = json.loads(args.runs_from.read_text())["runs"]
    if args.controls_from is not None:
        controls = json.loads(args.controls_from.read_text())["controls"]
    if args.resume and args.results.exists():
        earlier = json.loads(args.results.read_text())
        runs, controls = earlier["runs"], earlier["controls"]
    done = {(run["dataset"], run["variant"], run["seed"]) for run in runs}
    checked = {(c["dataset"], c["seed"]) for c in controls}
    with tempfile.TemporaryDirectory(prefix="driftune-bench-backtest-") as scratch:
        folder = Path(scratch)
        for dataset, seeds in SEEDS.items():
            for variant in variants:
                for seed in seeds[:1] if args.quick else seeds:
                    if (dataset, variant, seed) in done:
                        continue
                    baselines = ["fixed_refit", "hist_gradient_boosting"]
                    if dataset == "seattle-weather" and variant == "shipped":
                        baselines.append("random_search")
                    runs.append(replay(folder, dataset, variant, seed, baselines))
                    print(_line(runs[-1]), flush=True)
                    _write(args.results, runs, controls, started)  # a crash keeps what ran
        if args.controls_from is None and not args.skip_controls:
            for dataset in SEEDS:
                for seed in CONTROL_SEEDS[:2] if args.quick else CONTROL_SEEDS:
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
    print(json.dumps({k: result[k] for k in ("headline", "ablation", "false_alarms")}, indent=2))


def _write(
    path: Path, runs: list[dict[str, Any]], controls: list[dict[str, Any]], started: float
) -> dict[str, Any]:
    result = {
        "benchmark": "backtest",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "seconds": round(time.perf_counter() - started, 1),
        "headline": headline(runs, "shipped") if runs else None,
        "ablation": ablation(runs) if runs else None,
        "false_alarms": false_alarms(controls) if controls else None,
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
