"""The search's figures, as matplotlib Figure objects (no pyplot: no global figure state).

``metric_vs_learning_rate`` shows every trial's validation metric against its learning rate on
a log axis, coloured by round, so the coarse-to-fine zoom is visible; pruned trials are hollow
circles at their score when they stopped; trials that diverged or failed sit on the floor as
crosses. ``best_learning_curves`` draws the best trials' curves.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from matplotlib import colormaps
from matplotlib.figure import Figure

from models.search.trials import TrialResult, ranked


def metric_vs_learning_rate(
    trials: Mapping[int, TrialResult],
    *,
    metric: str = "val_accuracy",
    lr_param: str = "learning_rate",
) -> Figure:
    figure = Figure(figsize=(7, 4.5), layout="constrained")
    axes = figure.add_subplot()
    rounds = sorted({r.round for r in trials.values()})
    colours = colormaps["viridis"].resampled(max(len(rounds), 2))
    scores = [r.metrics.get(metric, math.nan) for r in trials.values() if r.ok]
    floor = min((v for v in scores if math.isfinite(v)), default=0.0)
    for position, round_ in enumerate(rounds):
        tried = [r for r in trials.values() if r.round == round_ and lr_param in r.params]
        ok = [r for r in tried if r.ok]
        pruned = [r for r in tried if r.status == "pruned"]
        bad = [r for r in tried if r.broken]
        if ok:
            alphas = [float(r.params[lr_param]) for r in ok]
            values = [r.metrics.get(metric, math.nan) for r in ok]
            axes.scatter(alphas, values, color=colours(position), label=f"round {round_}")
        if pruned:
            alphas = [float(r.params[lr_param]) for r in pruned]
            values = [r.metrics.get(metric, math.nan) for r in pruned]
            axes.scatter(
                alphas,
                values,
                facecolors="none",
                edgecolors=colours(position),
                label=f"round {round_}: pruned",
            )
        if bad:
            alphas = [float(r.params[lr_param]) for r in bad]
            label = f"round {round_}: diverged or failed"
            axes.scatter(
                alphas, [floor] * len(bad), color=colours(position), marker="x", label=label
            )
    axes.set_xscale("log")
    axes.set_xlabel(f"{lr_param} (log scale)")
    axes.set_ylabel(metric)
    axes.set_title(f"{metric} against {lr_param}, by search round")
    axes.grid(True, which="both", alpha=0.3)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize="small")
    return figure


def best_learning_curves(
    trials: Mapping[int, TrialResult], *, metric: str = "val_accuracy", top: int = 5
) -> Figure:
    figure = Figure(figsize=(10, 4), layout="constrained")
    loss_axes, accuracy_axes = figure.subplots(1, 2)
    for result in ranked(list(trials.values()), metric)[:top]:
        label = f"trial {result.index} ({metric} {result.metrics.get(metric, math.nan):.3f})"
        (line,) = loss_axes.plot(result.curves.get("val_loss", ()), label=label)
        loss_axes.plot(result.curves.get("train_loss", ()), color=line.get_color(), ls=":")
        accuracy_axes.plot(result.curves.get("val_accuracy", ()), color=line.get_color())
    loss_axes.set_title("loss (solid: validation, dotted: training)")
    accuracy_axes.set_title("validation accuracy")
    for axes in (loss_axes, accuracy_axes):
        axes.set_xlabel("epoch")
        axes.grid(True, alpha=0.3)
    if loss_axes.get_legend_handles_labels()[0]:
        loss_axes.legend(fontsize="small")
    return figure
