"""The CLI's bars: a step without trials shows its name and no stale count; the steps bar its
count from the first report and, once a step is done, the time left."""

from __future__ import annotations

import io
import re

from rich.console import Console

from flows.cli import progress
from flows.cli.console import trial_progress
from models.search.trials import TrialResult


def _lines(output: str) -> list[str]:
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", output)
    return [line.strip() for line in re.split(r"[\r\n]", plain) if line.strip()]


def test_a_step_after_the_trials_drops_their_count_and_the_steps_bar_tells_the_time_left() -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=160)
    trial = TrialResult(params={}, seed=0, status="ok", metrics={"val_accuracy": 0.5})
    with trial_progress(console, "trials", steps="batches"):
        progress.report_step(0, 4, "starting")
        progress.report(18, 18, trial)
        console.print("after the trials")
        progress.report_activity("refitting the 5 chosen trials")
        progress.report_step(1, 4, "first tune: v1")
        console.print("after the first step")
    shown = _lines(screen.getvalue())
    trials = [line for line in shown if line.startswith("trials ")]
    assert trials and "18/18" in trials[-1] and "best val acc 0.500" in trials[-1]
    refit = [line for line in shown if line.startswith("refitting the 5 chosen trials")]
    assert refit and not re.search(r"\d+/\d+", refit[-1]), refit[-1]
    batches = [line for line in shown if line.startswith("batches")]
    assert any("0/4 starting" in line for line in batches), batches
    assert re.search(r"1/4 first tune: v1; about \d+ s left \(\d+ s each\)", batches[-1]), batches
