"""Rich rendering for the CLI: tables and the trial progress bar. Presentation only."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from flows.cli import progress
from models.search.trials import TrialResult

if TYPE_CHECKING:  # the console imports no flow: `driftune --help` stays quick
    from flows.cli.demo import DemoRow
    from flows.outcomes import RetuneOutcome


class _Count(MofNCompleteColumn):
    """ "3/18" for a step with a count; nothing (not "0/?") for one without."""

    def render(self, task: Task) -> Text:
        return Text("") if task.total is None else super().render(task)


@contextmanager
def trial_progress(console: Console, label: str, steps: str | None = None) -> Iterator[None]:
    """A bar for the step running now: the trials as each finishes (fed by flows.cli.progress),
    or a step without trials by name (choosing the window, a refit, the gate, a baseline).

    ``steps`` names a second bar for a longer job's steps, such as a backtest's batches, with
    its estimated time left. Each step's clock starts when it does.
    """
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        _Count(),
        TextColumn("{task.fields[best]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    task_id = bar.add_task(label, total=None, best="")
    best = [0.0]

    def advance(finished: int, budget: int, result: TrialResult) -> None:
        if finished <= 1:  # a new search began: its best so far and its clock start afresh
            best[0] = 0.0
            bar.reset(task_id, total=budget, description=label, best="")
        accuracy = result.metrics.get("val_accuracy", 0.0)
        if result.ok and accuracy > best[0]:
            best[0] = accuracy
        bar.update(
            task_id,
            completed=finished,
            total=budget,
            description=label,
            best=f"best val acc {best[0]:.3f}",
        )
        bar.refresh()  # shown now, not at the next tick of the refresh thread

    def begin(what: str) -> None:
        bar.reset(task_id, description=what, best="")
        # reset and update leave a count in place when given None: a step without one pulses.
        next(task for task in bar.tasks if task.id == task_id).total = None
        bar.refresh()

    with bar, progress.listening(advance), progress.listening_activities(begin):
        with _steps(bar, steps):
            yield


@contextmanager
def _steps(bar: Progress, label: str | None) -> Iterator[None]:
    """A second bar for the steps of a longer job (a backtest's batches), when it has steps.

    Its count is known from the first report; the time left is the mean time of the steps done
    in this run times the steps left.
    """
    if label is None:
        yield
        return
    step_id = bar.add_task(label, total=None, best="")
    first: list[tuple[int, float]] = []

    def advance(done: int, total: int, what: str) -> None:
        now = time.monotonic()
        if not first:
            first.append((done, now))
        started, at = first[0]
        left = ""
        if done > started and done < total:
            each = (now - at) / (done - started)
            left = f"; about {_duration(each * (total - done))} left ({_duration(each)} each)"
        bar.update(step_id, completed=done, total=total, best=f"{what}{left}")
        bar.refresh()

    with progress.listening_steps(advance):
        yield


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


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
        ("decision", _decision(summary.promoted, summary.reason)),
    ]
    for key, value in rows:
        table.add_row(key, value)
    return table


def _decision(promoted: bool, reason: str) -> str:
    """PROMOTED or refused, then the gate's reason without its own first word saying it again."""
    verdict = "PROMOTED" if promoted else "refused"
    for said in ("promoted: ", "refused: "):
        reason = reason.removeprefix(said)
    return f"{verdict}: {reason}"


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
    """The first tune, then one row per replayed batch with every policy's accuracy on it and
    the seconds it took; the means at the foot."""
    rows, summary = result["rows"], result["summary"]
    policies = list(summary["mean_accuracy"])
    table = Table(title=f"backtest of {result['settings']['project']}: accuracy on each new batch")
    for column in ("batch", "rows", "drift", "retune", "decision"):
        table.add_column(column)
    for policy in policies:
        table.add_column(POLICY_LABELS.get(policy, policy), justify="right")
    table.add_column("seconds", justify="right")
    tuned = result.get("first_tune")
    if tuned is not None:
        batches = tuned["batches"]
        named = batches[0] if len(batches) == 1 else f"{batches[0]} .. {batches[-1]}"
        cells = [named, str(tuned["rows"]), "-", "first tune", f"champion v{tuned['version']}"]
        table.add_row(*cells, *("-" for _ in policies), _seconds(tuned["seconds"]))
    for row in rows:
        drift = row["drift"] + (" (acc. drop)" if row["accuracy_drop"] else "")
        cells = [str(row["batch"]), str(row["rows"]), drift, row["retune"] or "-", row["decision"]]
        accuracies = (_fmt(row["accuracy"][p]) for p in policies)
        table.add_row(*cells, *accuracies, _seconds(row.get("seconds")))
    means = [_fmt(summary["mean_accuracy"][p]) for p in policies]
    table.add_section()
    promoted = f"{summary['promotions']} promoted"
    total = sum(r.get("seconds") or 0 for r in [*rows, tuned or {}])
    table.add_row("mean", "", "", str(summary["retunes"]), promoted, *means, f"{total:.0f} in all")
    return table


def _seconds(value: float | None) -> str:
    """Whole seconds; "-" when not measured (a step done before a resume)."""
    return "-" if value is None else f"{value:.0f}"
