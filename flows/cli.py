"""The `driftune` command line: one thin typer app over the same functions the flows call."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Annotated

import typer
from rich.console import Console

from data.errors import DriftuneError

app = typer.Typer(
    help="driftune: watch tabular data for drift, retune and retrain, promote only what is better.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()


def _quiet_telemetry() -> None:
    # Set before Prefect or MLflow import (they read these at import): no network calls home.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


@app.callback()
def main() -> None:
    """driftune's commands; each takes --config where a project config applies."""
    _quiet_telemetry()


@app.command()
def demo(
    seed: Annotated[int, typer.Option(help="Seed for the model's initialisation.")] = 0,
) -> None:
    """Train on seattle-weather 2012-2013 and score the 2014 holdout."""
    from flows.demo import baseline_demo

    _run(lambda: baseline_demo(console, seed=seed))


def _run(action: Callable[[], object]) -> None:
    """Run a command; a driftune error prints as one clear line and a non-zero exit."""
    try:
        action()
    except DriftuneError as error:
        console.print(f"[bold red]error:[/] {error}")
        sys.exit(1)
