"""The `driftune` command line: one thin typer app over the same functions the flows call.

Heavy imports (Prefect, MLflow, torch) happen inside the commands, so `driftune --help` is quick
and importing this module has no side effects.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from data.errors import DriftuneError

app = typer.Typer(
    help="driftune: watch tabular data for drift, retune and retrain, promote only what is better.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()

ConfigOption = Annotated[
    Path,
    typer.Option("--config", "-c", help="Project YAML file.", envvar="DRIFTUNE_CONFIG"),
]
DEFAULT_CONFIG = Path("driftune.yaml")


def _quiet_environment() -> None:
    # Read by Prefect and MLflow at import: no telemetry, no artifact progress bars in our tables.
    for key, value in {
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        "MLFLOW_LOGGING_LEVEL": "WARNING",
    }.items():
        os.environ.setdefault(key, value)
    os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "false"  # no model may unpickle code


@app.callback()
def main() -> None:
    """driftune's commands; each takes --config (default ./driftune.yaml)."""
    _quiet_environment()


def _silence_prefect_console() -> None:
    """Keep Prefect's console logs (and its tracebacks) out of the CLI's own output.

    Only the console handlers are quieted: flow and task logs still reach the Prefect server,
    so the Prefect UI keeps every line. PREFECT_LOGGING_LEVEL=DEBUG brings them back here.
    """
    if os.environ.get("PREFECT_LOGGING_LEVEL", "").upper() == "DEBUG":
        return
    import logging

    from prefect.logging.configuration import setup_logging
    from prefect.logging.handlers import PrefectConsoleHandler

    setup_logging()
    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        for handler in getattr(logger, "handlers", []):
            if isinstance(handler, PrefectConsoleHandler):
                handler.setLevel(logging.CRITICAL)


def _run(action: Callable[[], Any]) -> Any:
    """Run a command; a driftune error prints as one clear line and a non-zero exit."""
    _silence_prefect_console()
    try:
        return action()
    except DriftuneError as error:
        console.print(f"[bold red]error:[/] {error}", soft_wrap=True)
        sys.exit(1)


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the config.")] = DEFAULT_CONFIG,
    sample: Annotated[str, typer.Option(help="Shipped dataset: seattle-weather or rainfall.")] = (
        "seattle-weather"
    ),
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented example config for a shipped sample dataset."""
    from flows.init_template import write_example

    _run(lambda: write_example(path, sample, force=force))
    console.print(f"wrote {path}: edit the dataset section, then run `driftune tune -c {path}`")


@app.command()
def tune(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Retune now (trigger manual): search, refit, register, and promote only if better."""
    from flows.console import retune_table, trial_progress
    from flows.retune import RetuneRequest, retune

    with trial_progress(console, "trials"):
        summary = _run(lambda: retune(RetuneRequest(config_path=str(config), trigger="manual")))
    console.print(retune_table(summary))


@app.command("check-drift")
def check_drift_command(
    config: ConfigOption = DEFAULT_CONFIG,
    retune: Annotated[bool, typer.Option(help="Start a retune when the batch drifted.")] = True,
) -> None:
    """Check the newest batch past the last one checked for drift; drift starts a retune."""
    from flows.check_drift import DriftCheckRequest, check_drift
    from flows.console import retune_table, trial_progress

    request = DriftCheckRequest(config_path=str(config), start_retune=retune)
    with trial_progress(console, "retune trials"):
        outcome = _run(lambda: check_drift(request))
    if outcome["status"] == "nothing new":
        console.print("nothing new: every batch is already checked")
        return
    verdict = "[bold red]DRIFT[/]" if outcome["drifted"] else "no drift"
    console.print(f"Drift check of {outcome['batch_id']}: {verdict}")
    console.print(outcome["report"].summary(), highlight=False)
    if outcome.get("retune") and "refused" in outcome["retune"]:
        console.print(f"[yellow]{outcome['retune']['refused']}[/]")
    elif outcome.get("retune"):
        console.print(retune_table(outcome["retune"]))


@app.command()
def status(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """The champion and its metrics, recent drift checks and searches, the audit trail."""
    from flows.status_view import show_status

    _run(lambda: show_status(console, config))


@app.command()
def promote(
    version: Annotated[str, typer.Argument(help="Model version to make the champion.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the audit trail).")],
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Make VERSION the champion by hand (the old one becomes previous-champion)."""
    from flows import registry
    from flows.config import load_config
    from flows.project import open_store

    def act() -> None:
        tracking, client = open_store(load_config(config))
        record = registry.promote(client, tracking, version, reason)
        console.print(f"version {record.version} is the champion (was {record.previous or '-'})")

    _run(act)


@app.command()
def rollback(
    reason: Annotated[str, typer.Option(help="Why (kept in the audit trail).")],
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Make previous-champion the champion again."""
    from flows import registry
    from flows.config import load_config
    from flows.project import open_store

    def act() -> None:
        tracking, client = open_store(load_config(config))
        record = registry.rollback(client, tracking, reason)
        console.print(
            f"rolled back: version {record.version} is the champion again "
            f"(version {record.previous} is previous-champion)"
        )

    _run(act)


@app.command()
def predict(
    input: Annotated[Path, typer.Argument(help="CSV or Parquet file to score.")],
    output: Annotated[Path, typer.Argument(help="CSV or Parquet file to write.")],
    config: ConfigOption = DEFAULT_CONFIG,
    overwrite: Annotated[bool, typer.Option(help="Replace OUTPUT if it exists.")] = False,
) -> None:
    """Score a file with the champion: its columns plus prediction and proba_<class>."""
    from flows.scoring import score_file

    rows = _run(lambda: score_file(config, input, output, overwrite=overwrite))
    console.print(f"wrote {rows} scored rows to {output}")


@app.command()
def serve(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Run drift-check, retune-scheduled and retune with their cron schedules in this process."""
    from flows.config import load_config
    from flows.deployments import serve_all

    project = _run(lambda: load_config(config))
    console.print(
        f"serving {project.name}: drift-check ({project.schedules.drift_check}), "
        f"retune-scheduled ({project.schedules.retune}), retune (on demand)"
    )
    serve_all(config, project)


@app.command()
def ui(
    config: ConfigOption = DEFAULT_CONFIG,
    port: Annotated[int, typer.Option(help="Port for the MLflow UI.")] = 5000,
) -> None:
    """Open the MLflow UI on the project's store (the Prefect UI: `prefect server start`)."""
    from flows.config import load_config
    from flows.project import tracking_config

    tracking = tracking_config(_run(lambda: load_config(config)))
    console.print(f"MLflow UI on http://127.0.0.1:{port} ({tracking.tracking_uri})")
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        tracking.tracking_uri,
        "--port",
        str(port),
    ]
    os.execv(sys.executable, command)


@app.command()
def demo(
    workdir: Annotated[Path, typer.Option(help="Demo project folder (recreated).")] = Path(
        ".driftune/demo"
    ),
    rounds: Annotated[int, typer.Option(help="Search rounds per retune.")] = 3,
    trials: Annotated[int, typer.Option(help="Trials per round.")] = 6,
    max_epochs: Annotated[int, typer.Option(help="Epochs per trial at most.")] = 40,
) -> None:
    """The whole loop on seattle-weather: tune on 2012, then replay 2013-2015 as new batches."""
    from flows.console import demo_reasons, demo_table, trial_progress
    from flows.demo import DemoBudget, check_demo_folder, run_demo

    _run(lambda: check_demo_folder(workdir))  # a folder the demo did not make: one line, exit 1
    budget = DemoBudget(rounds=rounds, trials_per_round=trials, max_epochs=max_epochs)
    console.print(f"[bold]driftune demo[/] in {workdir} (starts clean each run)")
    with trial_progress(console, "trials"):
        outcome = _run(lambda: run_demo(workdir, budget))
    first = outcome["first"]
    console.print(
        f"first tune on 2012: version {first['version']} is the champion "
        f"(holdout accuracy {first['challenger_accuracy']:.3f})"
    )
    console.print(demo_table(outcome["rows"]))
    for line in demo_reasons(outcome["rows"]):
        console.print(f"  {line}", highlight=False)
    console.print(f"done in {outcome['seconds']:.0f} s. Look around:")
    console.print(f"  MLflow UI:  driftune ui -c {outcome['config_path']}   (or make ui)")
    home = os.environ.get("PREFECT_HOME")
    prefix = f"PREFECT_HOME={home} " if home else ""
    console.print(f"  Prefect UI: {prefix}prefect server start   then http://127.0.0.1:4200")
