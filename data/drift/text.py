"""A DriftReport as text: a plain table for logs and files, a markdown table for the UIs.

Plain text has no colour codes, so it reads the same in logs and files. The markdown form puts
the verdict columns first, so a narrow pane (the Prefect UI's artifact view) shows them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from data.drift.report import DriftReport, FeatureDrift, PerformanceDrift

HEADER = ("feature", "kind", "test", "statistic", "p-value", "p-corrected", "effect", "drifted")


def render_summary(report: DriftReport) -> str:
    """The verdict, the sample sizes and settings, then one line per test, drifted first."""
    lines = [_verdict(report), _sizes(report), _settings(report), ""]
    table = [HEADER] + [_cells(row) for row in report.rows()]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADER))]
    for i, cells in enumerate(table):
        lines.append("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    if report.performance is not None:
        lines += ["", _performance(report)]
    if report.notes:
        lines += ["", "notes:"] + [f"- {note}" for note in report.notes]
    return "\n".join(lines)


MARKDOWN_HEADER = (
    "feature",
    "drifted",
    "p-corrected",
    "effect",
    "test",
    "kind",
    "statistic",
    "p-value",
)


def render_markdown(report: DriftReport) -> str:
    """The verdict and settings as lines, then one markdown table row per test, drifted first."""
    lines = [_verdict(report), "", _sizes(report) + "; " + _settings(report), ""]
    lines.append("| " + " | ".join(MARKDOWN_HEADER) + " |")
    lines.append("|" + "---|" * len(MARKDOWN_HEADER))
    for row in report.rows():
        name, kind, test, statistic, p_value, p_corrected, effect, drifted = _cells(row)
        flag = f"**{drifted}**" if row.drifted else drifted
        cells = (name, flag, p_corrected, effect, test, kind, statistic, p_value)
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    if report.performance is not None:
        lines += ["", _performance(report)]
    if report.notes:
        lines += ["", *(f"- {note}" for note in report.notes)]
    return "\n".join(lines)


def _performance(report: DriftReport) -> str:
    perf = report.performance
    assert perf is not None
    return (
        f"accuracy {perf.accuracy:.4f} on {perf.n} labelled rows vs baseline "
        f"{perf.baseline_accuracy:.4f} on {perf.n_baseline}: drop {perf.drop:+.4f}, "
        f"p = {perf.p_value:.3g} -> {_drop_verdict(perf)}"
    )


def _drop_verdict(perf: PerformanceDrift) -> str:
    """DROPPED, or which of the two conditions (significance, size) the drop missed."""
    if perf.drifted:
        return "DROPPED"
    if perf.p_value >= perf.alpha:
        return f"no significant drop (p >= alpha {perf.alpha:g})"
    return f"significant, but under min_accuracy_drop {perf.min_drop:g}: no drift"


def _verdict(report: DriftReport) -> str:
    drifted = report.drifted_features
    multivariate = report.multivariate
    parts = [f"{len(drifted)} feature(s) drifted" + (f": {', '.join(drifted)}" if drifted else "")]
    if multivariate is not None:
        parts.append(f"multivariate {'drifted' if multivariate.drifted else 'no drift'}")
    if report.label is not None:
        parts.append(f"label {'shifted' if report.label.drifted else 'no shift'}")
    verdict = f"Data drift: {'DRIFTED' if report.drifted else 'none'} ({'; '.join(parts)})"
    if report.performance is None:
        return verdict
    # The accuracy check is separate: a check can flag drift on it alone while the data is calm.
    return f"{verdict}; accuracy: {'DROPPED' if report.performance.drifted else 'held'}"


def _sizes(report: DriftReport) -> str:
    sizes = report.sizes

    def side(name: str, rows: int, used: int) -> str:
        return f"{name} {rows:,} rows" + (f" (sampled {used:,})" if used < rows else "")

    return (
        f"{side('reference', sizes.reference_rows, sizes.reference_used)}, "
        f"{side('current', sizes.current_rows, sizes.current_used)}"
    )


def _settings(report: DriftReport) -> str:
    correction = report.correction or "no"
    return (
        f"alpha {report.alpha:g}, {correction} correction over {len(report.rows())} tests, "
        f"drifted = corrected p < alpha and effect >= {report.min_effect:g}"
    )


def _cells(row: FeatureDrift) -> tuple[str, ...]:
    return (
        row.feature,
        row.kind,
        row.test,
        f"{row.statistic:.4g}",
        f"{row.p_value:.3g}",
        f"{row.p_corrected:.3g}",
        f"{row.effect:.3f} {row.effect_name}",
        "YES" if row.drifted else "no",
    )
