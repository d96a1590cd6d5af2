"""The `driftune` command line: one thin typer app over the same functions the flows call.

Every command reads and validates its config first, before Prefect or MLflow is imported, so a
bad one is one line at once. Commands that run no flow (status, predict, promote, rollback,
init, ui, --help, --version) import Prefect never and start no server. The flow commands (tune,
check-drift, backtest, serve, deploy, demo) run against the project's own Prefect server,
started on first use and reused (flows/local_server.py), or against the user's PREFECT_API_URL.
A server that does not answer is one line naming it, with what that means for the champion,
and exit 1.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from data.errors import ConfigError, DriftuneError, MissingFileError

if TYPE_CHECKING:
    from flows.cli.flow_calls import FlowOutcome
    from flows.config import ProjectConfig
    from flows.local_server import ServerState
    from flows.outcomes import DriftCheckOutcome
    from flows.store.handle import Store

app = typer.Typer(
    help="driftune: watch tabular data for drift, retune and retrain, promote only what is better.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
server_app = typer.Typer(
    help="The project's local Prefect server (the flow commands start it on first use).",
    no_args_is_help=True,
)
app.add_typer(server_app, name="server")
# Piped or redirected, rich would wrap at 80 columns and break the tables' rows: a script or a log
# gets them whole (COLUMNS, when set, still decides).
console = Console(width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 200)

JsonOption = Annotated[
    bool,
    typer.Option("--json", help="Print one JSON document on stdout (progress goes to stderr)."),
]
# Set by a command given --json: its errors are JSON too, so stdout is always one document.
_as_json: ContextVar[bool] = ContextVar("as_json", default=False)
WhoOption = Annotated[
    str | None,
    typer.Option(
        "--who",
        help="Who acts, for the audit trail (default $DRIFTUNE_USER, else the OS account).",
        envvar="DRIFTUNE_USER",
    ),
]
VerboseOption = Annotated[
    bool,
    typer.Option(
        "--verbose",
        "-v",
        help="Show library warnings here too (they always go to .driftune/driftune.log).",
    ),
]
ConfigOption = Annotated[
    Path,
    typer.Option("--config", "-c", help="Project YAML file.", envvar="DRIFTUNE_CONFIG"),
]
DEFAULT_CONFIG = Path("driftune.yaml")
NOTHING_CHANGED = "nothing changed"
# `check-drift --exit-code`: like `git diff --exit-code`, a finding is not an error (1) nor a
# usage error (2).
DRIFT_EXIT_CODE = 3
ALIASES_KEPT = "the aliases did not move (a half-made move is finished by the next command)"


def _quiet_environment() -> None:
    # Read by Prefect and MLflow at import: no telemetry, no artifact progress bars in our tables,
    # and Prefect's client retries bounded (flows/outages.py) unless the user set them.
    from flows.outages import prefect_client_bounds, prefect_timeout_s

    for key, value in {
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        "MLFLOW_LOGGING_LEVEL": "WARNING",
        "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",  # its "View run" links, per run
        **prefect_client_bounds(prefect_timeout_s()),
    }.items():
        os.environ.setdefault(key, value)
    os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "false"  # no model may unpickle code


def _print_version(asked: bool) -> None:
    if asked:
        from importlib.metadata import PackageNotFoundError, version

        try:
            console.print(f"driftune {version('driftune')}")
        except PackageNotFoundError:
            console.print("driftune (not installed: running from a source tree)")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """driftune's commands; each takes --config (default ./driftune.yaml)."""
    _as_json.set(False)  # until a command given --json says otherwise
    _quiet_environment()
    # MLflow's HTTP client logs each retry; an outage is told once, in one line, at the end.
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)


def _fail(error: Exception) -> NoReturn:
    if _as_json.get():
        _write_json({"error": str(error)})
    else:
        console.print(f"[bold red]error:[/] {escape(str(error))}", soft_wrap=True, highlight=False)
    _leave(1, prefect_gone=_is_prefect_outage(error))


def _write_json(document: Any) -> None:
    from flows.cli.json_output import to_json

    sys.stdout.write(to_json(document) + "\n")


def _json_mode(as_json: bool) -> Console:
    """Enter the output mode a command was given; returns the console for its progress bars."""
    _as_json.set(as_json)
    return Console(stderr=True) if as_json else console


def _finish_json(document: dict[str, Any], called: FlowOutcome, *, code: int = 0) -> None:
    """Print the document (with the note of a flow the Prefect API failed after); exit ``code``."""
    _write_json({**document, "note": called.note or None})
    if called.note:
        _leave(code, prefect_gone=True)
    if code:
        raise typer.Exit(code)


def _is_prefect_outage(error: Exception) -> bool:
    from flows.outages import PrefectUnavailableError

    return isinstance(error, PrefectUnavailableError)


def _leave(code: int, *, prefect_gone: bool) -> NoReturn:
    """Exit; at once when the Prefect API is gone and this process is the `driftune` program.

    Prefect's background workers would spend minutes at exit retrying their sends (events,
    logs) to the API that is gone; everything driftune writes is written by then. Called from
    Python (tests, CliRunner), it exits normally.
    """
    if prefect_gone and Path(sys.argv[0]).name == "driftune":
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def _run(action: Callable[[], Any], *, consequence: str = NOTHING_CHANGED) -> Any:
    """Run a command; a driftune error or a server outage prints as one line and exits 1."""
    try:
        return action()
    except DriftuneError as error:
        _fail(error)
    except Exception as error:
        from flows.outages import as_outage

        outage = as_outage(error, consequence)
        if outage is None:
            raise
        _fail(outage)


def _load(path: Path, *, data: bool = False) -> ProjectConfig:
    """The validated config, and (``data``) a dataset path that exists: before anything heavy."""
    from flows.config import load_config

    config: ProjectConfig = _run(lambda: load_config(path))
    if data and not config.dataset.path.exists():
        _fail(
            MissingFileError(
                f"no such file or folder (dataset.path in {path})", path=config.dataset.path
            )
        )
    return config


def _project_log(project: ProjectConfig) -> Path:
    from flows.cli.quiet import LOG_NAME

    return project.root / ".driftune" / LOG_NAME


def _quiet(log_file: Path, verbose: bool) -> AbstractContextManager[None]:
    """Library warnings to ``log_file`` instead of between the command's lines (``-v``: both)."""
    from flows.cli.quiet import library_warnings_to

    return library_warnings_to(log_file, verbose=verbose)


def _note(outcome: FlowOutcome, *, code: int = 0) -> None:
    """The note of a flow that finished before the Prefect API failed; then exit at once."""
    if outcome.note:
        console.print(f"[yellow]note:[/] {escape(outcome.note)}", soft_wrap=True, highlight=False)
        _leave(code, prefect_gone=True)


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the config.")] = DEFAULT_CONFIG,
    data: Annotated[
        Path | None,
        typer.Option(
            "--from",
            help="Your CSV or Parquet file, or folder of them: the dataset section is guessed "
            "from it.",
        ),
    ] = None,
    label: Annotated[
        str | None, typer.Option(help="With --from: the column to predict (default: guessed).")
    ] = None,
    time: Annotated[
        str | None, typer.Option(help="With --from: the time column (default: guessed).")
    ] = None,
    sample: Annotated[str, typer.Option(help="Shipped dataset: seattle-weather or rainfall.")] = (
        "seattle-weather"
    ),
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented config: for your data (--from), or for a shipped sample dataset."""
    if data is None:
        if label is not None or time is not None:
            _fail(ConfigError("--label and --time go with --from DATA"))
        from flows.cli.init_template import write_example

        _run(lambda: write_example(path, sample, force=force))
        console.print(
            f"wrote {path}: edit the dataset section; next: `driftune backtest -c {path}`",
            soft_wrap=True,
        )
        return
    from flows.cli.init_from import write_from_data

    guess = _run(lambda: write_from_data(path, data, label=label, time=time, force=force))
    kinds = f"{len(guess.numeric)} numeric, {len(guess.categorical)} categorical"
    console.print(
        f"wrote {path}: label {guess.label!r}, time {guess.time or '(row order)'}, {kinds} "
        f"feature(s), batches every {guess.every} (its comments say why)",
        soft_wrap=True,
        highlight=False,
    )
    console.print(f"next: `driftune backtest -c {path}`", soft_wrap=True, highlight=False)


@app.command()
def tune(
    config: ConfigOption = DEFAULT_CONFIG,
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Retune now (trigger manual): search, refit, register, and promote only if better."""
    progress_console = _json_mode(as_json)
    project = _load(config, data=True)
    from flows.cli.console import retune_table, trial_progress
    from flows.cli.flow_calls import call_flow
    from flows.retune import RetuneRequest, retune

    request = RetuneRequest(config_path=str(config), trigger="manual")
    with _quiet(_project_log(project), verbose), trial_progress(progress_console, "trials"):
        outcome = _run(lambda: call_flow(project, retune, request, missing_store_ok=True))
    if as_json:
        _finish_json({"retune": outcome.value}, outcome)
        return
    if outcome.value is not None:
        console.print(retune_table(outcome.value))
    _note(outcome)


@app.command("check-drift")
def check_drift_command(
    config: ConfigOption = DEFAULT_CONFIG,
    retune: Annotated[bool, typer.Option(help="Start a retune when the batch drifted.")] = True,
    exit_code: Annotated[
        bool,
        typer.Option(
            "--exit-code",
            help=f"Exit {DRIFT_EXIT_CODE} when the batch drifted (0: no drift or nothing new).",
        ),
    ] = False,
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Check the newest batch past the last one checked for drift; drift starts a retune."""
    progress_console = _json_mode(as_json)
    project = _load(config, data=True)
    from flows.check_drift import DriftCheckRequest, check_drift
    from flows.cli.console import trial_progress
    from flows.cli.flow_calls import call_flow

    request = DriftCheckRequest(config_path=str(config), start_retune=retune)
    with _quiet(_project_log(project), verbose), trial_progress(progress_console, "retune trials"):
        called = _run(lambda: call_flow(project, check_drift, request))
    outcome = called.value
    if as_json:
        drifted = outcome is not None and outcome.drifted
        code = DRIFT_EXIT_CODE if exit_code and drifted else 0
        _finish_json({"check": outcome}, called, code=code)
        return
    code = DRIFT_EXIT_CODE if exit_code and outcome is not None and outcome.drifted else 0
    if outcome is not None:  # None: the Prefect API failed after the work, the note tells
        _show_check(outcome)
    _note(called, code=code)
    if code:
        raise typer.Exit(code)


def _warn_inputs(inputs: Any) -> None:
    """On stderr: the batch's columns with values outside the champion's data contract."""
    columns = (inputs or {}).get("columns", {})
    if columns:
        warnings = Console(stderr=True)
        warnings.print(
            "warning: the batch holds values outside the champion's data contract (see the "
            f"notes): {', '.join(map(repr, columns))}",
            soft_wrap=True,
            highlight=False,
            markup=False,
        )


def _show_check(outcome: DriftCheckOutcome) -> None:
    """A drift check's outcome in words and tables: the verdict, the report, the retune."""
    from flows.cli.console import retune_table
    from flows.outcomes import RetuneRefused

    for line in outcome.waiting:
        console.print(f"[yellow]left for a later check:[/] {escape(line)}", soft_wrap=True)
    for line in outcome.skipped:
        console.print(f"[yellow]skipped:[/] {escape(line)}", soft_wrap=True)
    if outcome.status == "nothing new":
        console.print("nothing new: every whole batch is already checked")
        return
    if outcome.status == "resumed":
        console.print(f"resumed the retune that drift check {outcome.drift_run_id} started")
    else:
        verdict = "[bold red]DRIFT[/]" if outcome.drifted else "no drift"
        console.print(f"Drift check of {outcome.batch_id}: {verdict}")
        if outcome.report is not None:
            console.print(outcome.report.summary(), highlight=False)
            _warn_inputs(outcome.report.inputs)
    if outcome.status == "checked elsewhere":
        console.print(f"(checked by a concurrent run, {outcome.drift_run_id}, which retunes)")
    if isinstance(outcome.retune, RetuneRefused):
        console.print(f"[yellow]{outcome.retune.refused}[/]")
    elif outcome.retune is not None:
        console.print(retune_table(outcome.retune))


@app.command()
def backtest(
    config: ConfigOption = DEFAULT_CONFIG,
    first: Annotated[int, typer.Option(help="Tune on the first N batches.")] = 1,
    out: Annotated[
        Path | None, typer.Option(help="Scratch folder (default <project>/.driftune/backtest).")
    ] = None,
    baseline: Annotated[
        list[str] | None,
        typer.Option(
            help="Baselines refit on the previous batch: fixed_refit, hist_gradient_boosting, "
            "random_search (repeat the option; default the first two)."
        ),
    ] = None,
    fresh: Annotated[bool, typer.Option(help="Start over instead of resuming.")] = False,
    retune: Annotated[
        bool, typer.Option(help="Let drift start retunes (--no-retune: count verdicts only).")
    ] = True,
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Replay the dataset's batches through check-drift, retune and the gate in a scratch store.

    Each batch is scored by the current champion before the flows see it, beside baselines
    refit on the batch before; your project's store and champion are never touched.
    """
    progress_console = _json_mode(as_json)
    project = _load(config, data=True)
    from flows.backtest import DEFAULT_BASELINES, BacktestRequest
    from flows.backtest import backtest as run_backtest
    from flows.cli.console import backtest_table, trial_progress
    from flows.cli.flow_calls import call_flow
    from flows.cli.quiet import LOG_NAME

    request = BacktestRequest(
        config_path=str(config),
        first=first,
        out=None if out is None else str(out),
        baselines=tuple(baseline or DEFAULT_BASELINES),
        fresh=fresh,
        start_retune=retune,
    )
    scratch = out if out is not None else project.root / ".driftune" / "backtest"
    with (
        _quiet(scratch / LOG_NAME, verbose),
        trial_progress(progress_console, "trials", steps="batches"),
    ):
        called = _run(lambda: call_flow(project, run_backtest, request, missing_store_ok=True))
    result = called.value
    if as_json:
        _finish_json({"backtest": result}, called)
        return
    if result is not None:
        console.print(backtest_table(result))
        console.print(f"wrote {result['out']}/backtest.json; MLflow run {result['mlflow_run_id']}")
        console.print(f"  in {result['tracking_uri']}", soft_wrap=True)
    _note(called)


@app.command()
def status(config: ConfigOption = DEFAULT_CONFIG, as_json: JsonOption = False) -> None:
    """The champion and its metrics, recent drift checks and searches, the audit trail."""
    _json_mode(as_json)
    project = _load(config)
    from flows.cli.status_view import show_status, status_document

    if as_json:
        _write_json(_run(lambda: status_document(project)))
        return
    _run(lambda: show_status(console, project))


def _registry_command(config: Path, act: Callable[[Store], str]) -> None:
    """An audited registry change (promote, trust, rollback): the store opened, one line told.

    ``act`` imports what it needs itself: the config is checked before MLflow or torch load.
    """
    project = _load(config)
    from flows.store.project import open_store

    def run() -> None:
        console.print(act(open_store(project)))

    _run(run, consequence=ALIASES_KEPT)


@app.command()
def promote(
    version: Annotated[str, typer.Argument(help="Model version to make the champion.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the audit trail).")],
    config: ConfigOption = DEFAULT_CONFIG,
    who: WhoOption = None,
) -> None:
    """Make VERSION the champion by hand (the old one becomes previous-champion)."""

    def act(store: Store) -> str:
        from flows.store import registry

        record = registry.promote(store, version, reason, who=who)
        return f"version {record.version} is the champion (was {record.previous or '-'})"

    _registry_command(config, act)


@app.command()
def trust(
    version: Annotated[str, typer.Argument(help="Model version to vouch for.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the audit trail).")],
    config: ConfigOption = DEFAULT_CONFIG,
    who: WhoOption = None,
) -> None:
    """Record the SHA-256 of a version registered before driftune recorded them (audited)."""

    def act(store: Store) -> str:
        from flows.store.trust import trust_version

        trust_version(store, version, reason, who=who)
        return f"recorded the SHA-256 of version {version}'s data files; it loads again"

    _registry_command(config, act)


@app.command()
def rollback(
    reason: Annotated[str, typer.Option(help="Why (kept in the audit trail).")],
    config: ConfigOption = DEFAULT_CONFIG,
    who: WhoOption = None,
) -> None:
    """Make previous-champion the champion again."""

    def act(store: Store) -> str:
        from flows.store import registry

        record = registry.rollback(store, reason, who=who)
        return (
            f"rolled back: version {record.version} is the champion again "
            f"(version {record.previous} is previous-champion)"
        )

    _registry_command(config, act)


@app.command()
def predict(
    input: Annotated[Path, typer.Argument(help="CSV or Parquet file to score.")],
    output: Annotated[Path, typer.Argument(help="CSV or Parquet file to write.")],
    config: ConfigOption = DEFAULT_CONFIG,
    overwrite: Annotated[bool, typer.Option(help="Replace OUTPUT if it exists.")] = False,
    strict: Annotated[
        bool,
        typer.Option(
            help="Refuse values outside the champion's data contract (unseen categories, "
            "missing values where training had none, numbers outside the training range)."
        ),
    ] = False,
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Score a file with the champion: its columns plus prediction and proba_<class>."""
    _json_mode(as_json)
    project = _load(config)
    if not input.is_file():
        _fail(MissingFileError("no such file", path=input))
    from flows.cli.predict import input_findings, score_file

    with _quiet(_project_log(project), verbose):
        scored = _run(lambda: score_file(config, input, output, overwrite=overwrite, strict=strict))
    if as_json:
        inputs = None if scored.report is None else scored.report.to_dict()
        _write_json({"rows": scored.rows, "output": output, "contract": inputs})
    else:
        console.print(f"wrote {scored.rows} scored rows to {output}")
    warnings = Console(stderr=True)
    for line in input_findings(scored.report, input):
        warnings.print(line, soft_wrap=True, highlight=False, markup=False)


@app.command()
def serve(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Run the project's drift-check, retune-scheduled and retune deployments in this process."""
    project = _load(config, data=True)
    from flows.deployments import serve_all
    from flows.prefect_api import project_api, quiet_prefect_console

    def act() -> None:
        with project_api(project.root) as url:
            quiet_prefect_console()
            name = project.name
            console.print(
                f"serving {name} on {url}: drift-check-{name} ({project.schedules.drift_check}), "
                f"retune-scheduled-{name} ({project.schedules.retune}), retune-{name} (on demand)"
            )
            serve_all(config, project)

    _run(act)


@app.command()
def deploy(
    pool: Annotated[str, typer.Option(help="The Prefect work pool its workers poll.")],
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Create the project's three deployments on a work pool (a worker there runs them)."""
    project = _load(config, data=True)
    from flows.deployments import deploy_to_pool
    from flows.prefect_api import project_api, quiet_prefect_console

    def act() -> tuple[list[str], str]:
        with project_api(project.root) as url:
            quiet_prefect_console()
            return deploy_to_pool(config, project, pool), url

    names, url = _run(act)
    console.print(f"deployed {project.name} on work pool {pool!r} of {url}:")
    for name in names:
        console.print(f"  {name}", highlight=False)
    console.print(
        f"a worker runs them where driftune is installed and {config.resolve()} is readable: "
        f"prefect worker start --pool {pool}",
        soft_wrap=True,
    )


@app.command()
def ui(
    config: ConfigOption = DEFAULT_CONFIG,
    port: Annotated[int, typer.Option(help="Port for the MLflow UI.")] = 5000,
) -> None:
    """Open the MLflow UI on the project's store (the Prefect UI: `driftune server start`)."""
    project = _load(config)
    from flows.local_server import is_running, read_state, server_home
    from flows.store.project import tracking_config

    tracking = _run(lambda: tracking_config(project))
    state = read_state(server_home(project.root))
    if state is not None and is_running(state):
        console.print(f"Prefect UI on {state.ui_url} (the project's Prefect server)")
    if tracking.tracking_uri.startswith(("http://", "https://")):
        # A tracking server serves its own UI: there is nothing to start, only where to look.
        console.print(f"MLflow UI on {tracking.tracking_uri} (the tracking server's own)")
        return
    console.print(f"MLflow UI on http://127.0.0.1:{port} ({tracking.tracking_uri})")
    _print_search_runs_link(project, tracking.tracking_uri, f"http://127.0.0.1:{port}")
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


# The runs table's own URL parameters (MLflow 3.18): sorted by the trials' final val_accuracy.
TRIALS_BEST_FIRST = "orderByKey=metrics.%60val_accuracy%60&orderByAsc=false"


def _print_search_runs_link(project: ProjectConfig, tracking_uri: str, base: str) -> None:
    """Where the search runs are: MLflow 3.17's UI ignores the ``mlflow.experimentKind`` tag.

    It opens every experiment in the view of its GenAI / Model training switch, GenAI unless
    this browser chose otherwise; ``workflowType=machine_learning`` opens the runs table.
    """
    from flows.store.project import open_store

    database = tracking_uri.removeprefix("sqlite:///")
    if database == tracking_uri or not Path(database).is_file():
        return  # nothing tuned yet (and no store to create here)
    try:
        store = open_store(project)
        found = store.client.get_experiment_by_name(store.experiment_name("search"))
    except Exception:  # a store MLflow cannot read: `mlflow ui` will say why
        return
    if found is not None:
        runs = f"{base}/#/experiments/{found.experiment_id}/runs?workflowType=machine_learning"
        console.print(f"Search runs: {runs}", soft_wrap=True)
        # Sorted by a metric, the runs table lists the trials flat instead of nested under
        # their search runs (collapsed there until each run's + is pressed).
        console.print(f"Trials, best first: {runs}&{TRIALS_BEST_FIRST}", soft_wrap=True)
        console.print(
            "  (each search run's trials are nested under it: press + beside its name; "
            "Columns picks the params and metrics shown)",
            soft_wrap=True,
        )


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
    from flows.cli.demo_folder import check_demo_folder

    # A folder the demo did not make: one line, exit 1, before Prefect, MLflow or torch load.
    _run(lambda: check_demo_folder(workdir))
    from flows.cli.console import demo_reasons, demo_table, trial_progress
    from flows.cli.demo import DemoBudget, DemoOutcome, run_demo
    from flows.prefect_api import project_api, quiet_prefect_console

    budget = DemoBudget(rounds=rounds, trials_per_round=trials, max_epochs=max_epochs)
    console.print(f"[bold]driftune demo[/] in {workdir} (starts clean each run)")

    def act() -> tuple[DemoOutcome, str]:
        # The demo's flows use the Prefect server of the folder it runs in: its folder is recreated.
        with project_api(Path.cwd()) as url:
            quiet_prefect_console()
            return run_demo(workdir, budget), url

    with trial_progress(console, "trials"):
        outcome, api_url = _run(act)
    first = outcome.first
    console.print(
        f"first tune on 2012: version {first.version} is the champion "
        f"(holdout accuracy {first.challenger_accuracy:.3f})"
    )
    console.print(demo_table(outcome.rows))
    for line in demo_reasons(outcome.rows):
        console.print(f"  {line}", highlight=False)
    console.print(f"done in {outcome.seconds:.0f} s. Look around:")
    console.print(f"  MLflow UI:  driftune ui -c {outcome.config_path}   (or make ui)")
    console.print(
        f"  Prefect UI: {api_url.removesuffix('/api')}   (`driftune server stop` ends it)"
    )


def _project_root(config: Path) -> Path:
    """The project folder a config names (its folder); the file itself need not exist yet."""
    return config.resolve().parent


def _where(state: ServerState) -> str:
    return f"UI {state.ui_url}, API {state.url}, pid {state.pid}"


@server_app.command("start")
def server_start(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Start the project's Prefect server (or find it running) and print where it answers."""
    from flows.local_server import ensure_server, server_home

    home = server_home(_project_root(config))
    state = _run(lambda: ensure_server(home))
    console.print(f"Prefect server of {home.parent.parent}: {_where(state)}")


@server_app.command("status")
def server_status(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Whether the project's Prefect server runs and answers, and where."""
    from flows.local_server import is_healthy, is_running, read_state, server_home

    home = server_home(_project_root(config))
    state = read_state(home)
    if state is None or not is_running(state):
        console.print(
            f"no Prefect server runs for {home.parent.parent} (the next flow command starts one)"
        )
        return
    answers = "answers" if is_healthy(state.url) else "[yellow]does not answer[/]"
    console.print(f"Prefect server of {home.parent.parent} {answers}: {_where(state)}")


@server_app.command("stop")
def server_stop(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Stop the project's Prefect server (its runs stay in <project>/.driftune/prefect)."""
    from flows.local_server import server_home, stop_server

    home = server_home(_project_root(config))
    stopped = _run(lambda: stop_server(home))
    if stopped is None:
        console.print(f"no Prefect server was running for {home.parent.parent}")
    else:
        console.print(f"stopped the Prefect server of {home.parent.parent} (pid {stopped.pid})")
