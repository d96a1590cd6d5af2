"""What a backtest tells: per-batch rows, each policy's mean, the promotions' effect, a plot.

The summary is plain JSON-ready data (``backtest.json``); the same figures are logged as one
MLflow run in the scratch store, with the accuracy-per-batch plot as an artifact.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from mlflow.entities import Metric, Param

from flows.backtesting.scoring import DRIFTUNE
from flows.store.handle import Store

# A promotion that costs more than this on the next batch counts as a harmful one.
HARM_POINTS = 0.01


def summarise(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Each policy's mean accuracy over the scored batches, driftune against each baseline."""
    policies = list(rows[0]["accuracy"]) if rows else []
    means = {p: _mean([row["accuracy"][p] for row in rows]) for p in policies}
    versus = {
        p: _mean([row["accuracy"][DRIFTUNE] - row["accuracy"][p] for row in rows])
        for p in policies
        if p != DRIFTUNE
    }
    effects = [
        {"batch": row["batch"], "version": row["champion_version"], "gain": row["promotion_effect"]}
        for row in rows
        if row.get("promotion_effect") is not None
    ]
    checks = [row for row in rows if row["drift"] in ("drift", "no drift")]
    return {
        "batches": len(rows),
        "mean_accuracy": means,
        "driftune_minus": versus,
        "retunes": sum(row["retune"] is not None for row in rows),
        "promotions": sum(str(row["decision"]).startswith("promoted") for row in rows),
        "drift_verdicts": sum(row["drift"] == "drift" for row in checks),
        "checks": len(checks),
        "promotion_effects": effects,
        "harmful_promotions": sum(e["gain"] < -HARM_POINTS for e in effects),
    }


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.nan


def accuracy_plot(rows: Sequence[Mapping[str, Any]], title: str) -> Figure:
    """Accuracy per batch, one line per policy; driftune's drawn boldest (no pyplot state)."""
    figure = Figure(figsize=(8, 4.5), layout="constrained")
    axes = figure.add_subplot()
    batches = [str(row["batch"]) for row in rows]
    for policy in rows[0]["accuracy"] if rows else []:
        values = [row["accuracy"][policy] for row in rows]
        width = 2.5 if policy == DRIFTUNE else 1.2
        axes.plot(batches, values, marker="o", linewidth=width, label=policy)
    promoted = [i for i, row in enumerate(rows) if str(row["decision"]).startswith("promoted")]
    for i in promoted:  # the promotion takes effect from the next batch on
        axes.axvline(i + 0.5, color="grey", linestyle=":", linewidth=1)
    axes.set_xlabel("batch (scored before the flows saw it; dotted: a promotion)")
    axes.set_ylabel("accuracy")
    axes.set_title(title)
    axes.legend(fontsize="small")
    if len(batches) > 12:
        axes.tick_params(axis="x", labelrotation=60, labelsize="small")
    return figure


def write_json(path: Path, result: Mapping[str, Any]) -> None:
    """Written whole to a temporary file first, so a kill never leaves half a result."""
    staging = path.with_suffix(".json.tmp")
    staging.write_text(json.dumps(result, indent=2, default=str))
    staging.replace(path)


def log_backtest_run(
    store: Store,
    experiment: str,
    result: Mapping[str, Any],
) -> str:
    """One MLflow run holding the whole backtest: means as metrics, rows as JSON, the plot."""
    client = store.client
    found = client.get_experiment_by_name(experiment)
    # The scratch store's artifact root, not MLflow's default (./mlruns in whatever folder the
    # command ran from): everything a backtest writes stays under its --out folder.
    root = store.tracking.artifact_location
    location = f"{root}/{experiment}" if root else None
    experiment_id = (
        found.experiment_id
        if found
        else client.create_experiment(experiment, artifact_location=location)
    )
    run = client.create_run(experiment_id, run_name=f"backtest-{time.strftime('%Y%m%d-%H%M%S')}")
    run_id = str(run.info.run_id)
    now = int(time.time() * 1000)
    summary = result["summary"]
    metrics = [
        Metric(f"mean_accuracy.{policy}", value, now, 0)
        for policy, value in summary["mean_accuracy"].items()
        if math.isfinite(value)
    ]
    for step, row in enumerate(result["rows"]):
        metrics += [
            Metric(f"accuracy.{policy}", value, now, step)
            for policy, value in row["accuracy"].items()
        ]
    settings = result["settings"]
    params = [Param(key, str(value)[:500]) for key, value in settings.items()]
    client.log_batch(run_id, metrics=metrics, params=params)
    client.log_text(run_id, json.dumps(result, indent=2, default=str), "backtest.json")
    figure = accuracy_plot(result["rows"], f"{store.name}: accuracy on each arriving batch")
    client.log_figure(run_id, figure, "accuracy_per_batch.png")
    client.set_terminated(run_id, "FINISHED")
    return run_id
