"""Rich rendering for the CLI: tables and the trial progress bar. Presentation only."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from flows.cli import progress
from models.search.trials import TrialResult

if TYPE_CHECKING:  # the console imports no flow: `driftune --help` stays quick
    from flows.cli.demo import DemoRow
    from flows.outcomes import RetuneOutcome


@contextmanager
def trial_progress(console: Console, label: str, steps: str | None = None) -> Iterator[None]:
    """A progress bar that advances as each trial finishes (fed by flows.cli.progress).

    ``steps`` names a second bar for a longer job's steps, such as a backtest's batches.
    """
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[best]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    task_id = bar.add_task(label, total=None, best="")
    best = [0.0]

    def advance(finished: int, budget: int, result: TrialResult) -> None:
        if finished <= 1:  # a new search began: its best so far starts afresh
            best[0] = 0.0
        accuracy = result.metrics.get("val_accuracy", 0.0)
        if result.ok and accuracy > best[0]:
            best[0] = accuracy
        bar.update(task_id, completed=finished, total=budget, best=f"best val acc {best[0]:.3f}")

    with bar, progress.listening(advance), _steps(bar, steps):
        yield


@contextmanager
def _steps(bar: Progress, label: str | None) -> Iterator[None]:
    """A second bar for the steps of a longer job (a backtest's batches), when it has steps."""
    if label is None:
        yield
        return
    step_id = bar.add_task(label, total=None, best="")

    def advance(done: int, total: int, what: str) -> None:
        bar.update(step_id, completed=done, total=total, best=f"last: {what}")

    with progress.listening_steps(advance):
        yield


def retune_table(summary: RetuneOutcome) -> Table:
    table = Table(title=f"retune ({summary.trigger})", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    rows = [
        ("search run", summary.search_run_id + (" (resumed)" if summary.resumed else "")),
        (
            "trials",
            f"{summary.trials}: {summary.ok} ok, {summary.diverged} diverged, "
            f"{summary.failed} failed" + (f", {summary.pruned} pruned" if summary.pruned else ""),
        ),
        ("best config", ", ".join(f"{k}={_fmt(v)}" for k, v in summary.best_params.items())),
        ("best val accuracy", _fmt(summary.best_val_accuracy)),
        ("candidate version", str(summary.version)),
        (
            "holdout accuracy",
            f"challenger {_fmt(summary.challenger_accuracy)}, "
            f"champion {_fmt(summary.champion_accuracy)}",
        ),
        ("decision", ("PROMOTED: " if summary.promoted else "refused: ") + summary.reason),
    ]
    for key, value in rows:
        table.add_row(key, value)
    return table


def demo_table(rows: Sequence[DemoRow]) -> Table:
    table = Table(title="seattle-weather: each new year checked against the champion")
    for column in (
        "batch",
        "drift (top features)",
        "stale champion acc",
        "holdout acc:\nchampion -> challenger",
        "decision",
    ):
        table.add_column(column)
    for row in rows:
        drift = "DRIFT" if row.drifted else "none"
        named = [*row.top_features, *(["multivariate"] if row.multivariate else [])]
        named += ["accuracy drop"] if row.accuracy_drop else []
        if named:
            drift += f" ({', '.join(named)})"
        stale = _fmt(row.stale_accuracy)
        if row.baseline_accuracy is not None:
            stale += f" (was {_fmt(row.baseline_accuracy)})"
        holdout = "-"
        if row.challenger_holdout is not None:
            holdout = f"{_fmt(row.champion_holdout)} -> {_fmt(row.challenger_holdout)}"
        decision = {
            True: f"promoted v{row.version}",
            False: f"refused v{row.version}",
            None: "no retune",
        }[row.promoted]
        table.add_row(row.batch, drift, stale, holdout, decision)
    return table


def demo_reasons(rows: Sequence[DemoRow]) -> list[str]:
    """The gate's reasoning per batch, in words (too long for a table cell)."""
    return [f"{row.batch}: {row.reason}" for row in rows]


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1e-2 else f"{value:.3f}"
    return str(value)


# Short column heads, so the backtest table fits a terminal.
POLICY_LABELS = {
    "never_retrain": "never",
    "fixed_refit": "fixed",
    "hist_gradient_boosting": "HGB",
    "random_search": "random",
}


def backtest_table(result: dict[str, Any]) -> Table:
    """One row per replayed batch, every policy's accuracy on it, and the means at the foot."""
    rows, summary = result["rows"], result["summary"]
    policies = list(summary["mean_accuracy"])
    table = Table(title=f"backtest of {result['settings']['project']}: accuracy on each new batch")
    for column in ("batch", "rows", "drift", "retune", "decision"):
        table.add_column(column)
    for policy in policies:
        table.add_column(POLICY_LABELS.get(policy, policy), justify="right")
    for row in rows:
        drift = row["drift"] + (" (acc. drop)" if row["accuracy_drop"] else "")
        cells = [str(row["batch"]), str(row["rows"]), drift, row["retune"] or "-", row["decision"]]
        table.add_row(*cells, *(_fmt(row["accuracy"][p]) for p in policies))
    means = [_fmt(summary["mean_accuracy"][p]) for p in policies]
    table.add_section()
    promoted = f"{summary['promotions']} promoted"
    table.add_row("mean", "", "", str(summary["retunes"]), promoted, *means)
    return table
