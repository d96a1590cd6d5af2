"""Render a DriftReport with matplotlib's object API (no pyplot, so no global backend or state)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from data.drift.report import DriftReport, FeatureDrift

DRIFTED_COLOUR = "#c0392b"
STABLE_COLOUR = "#7f8c8d"
REFERENCE_COLOUR = "#2c7fb8"
CURRENT_COLOUR = "#e6550d"


def plot_report(report: DriftReport, path: Path, *, top: int = 4) -> Path:
    """Effect sizes against the threshold on top, then the most drifted features' distributions.

    The format follows the file suffix (.png, .svg, .pdf).
    """
    shown = [r for r in report.rows() if r.distribution is not None][:top]
    panel_rows = math.ceil(len(shown) / 2)
    figure = Figure(figsize=(11, 3.6 * (1 + panel_rows)), layout="constrained")
    grid = figure.add_gridspec(1 + panel_rows, 2)
    _effects(figure.add_subplot(grid[0, :]), report)
    for i, row in enumerate(shown):
        _distribution(figure.add_subplot(grid[1 + i // 2, i % 2]), row)
    verdict = "DRIFTED" if report.drifted else "none"
    figure.suptitle(f"Data drift: {verdict}")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    return path


def _effects(axes: Any, report: DriftReport) -> None:
    rows = sorted(report.rows(), key=lambda r: -np.nan_to_num(r.effect))
    names = [f"{r.feature} ({r.kind})" for r in rows]
    effects = [float(np.nan_to_num(r.effect)) for r in rows]
    colours = [DRIFTED_COLOUR if r.drifted else STABLE_COLOUR for r in rows]
    axes.bar(range(len(rows)), effects, color=colours)
    axes.axhline(report.min_effect, color="black", linestyle="--", linewidth=1)
    axes.text(
        len(rows) - 0.5,
        report.min_effect,
        f" min_effect {report.min_effect:g}",
        va="bottom",
        ha="right",
    )
    axes.set_xticks(range(len(rows)), names, rotation=45, ha="right", fontsize=8)
    # symlog: linear up to the threshold, compressed above, so a huge label PSI does not
    # flatten the bars that sit near the threshold.
    axes.set_yscale("symlog", linthresh=max(report.min_effect, 0.01))
    axes.set_ylabel("effect size (symlog)")
    axes.set_title("Effect sizes (red: drifted, i.e. corrected p < alpha and effect >= threshold)")


def _distribution(axes: Any, row: FeatureDrift) -> None:
    dist = row.distribution
    assert dist is not None
    if dist.edges is not None:
        edges = np.asarray(dist.edges)
        axes.stairs(dist.reference, edges, label="reference", color=REFERENCE_COLOUR, linewidth=1.5)
        axes.stairs(dist.current, edges, label="current", color=CURRENT_COLOUR, linewidth=1.5)
    else:
        positions = np.arange(len(dist.bins))
        axes.bar(positions - 0.2, dist.reference, 0.4, label="reference", color=REFERENCE_COLOUR)
        axes.bar(positions + 0.2, dist.current, 0.4, label="current", color=CURRENT_COLOUR)
        axes.set_xticks(positions, dist.bins, rotation=30, ha="right", fontsize=8)
    axes.set_ylabel("share of rows")
    verdict = "drifted" if row.drifted else "stable"
    axes.set_title(
        f"{row.feature}: {row.test} p_corr={row.p_corrected:.2g}, "
        f"{row.effect_name}={row.effect:.3f} ({verdict})",
        fontsize=9,
    )
    axes.legend(fontsize=8)
