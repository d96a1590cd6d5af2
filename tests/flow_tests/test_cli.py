"""Every `driftune` command through typer's CliRunner, on a real project; errors included."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from flows.cli.app import DRIFT_EXIT_CODE, app
from flows.config import load_config
from flows.store.project import open_store
from flows.store.registry import champion, list_audit
from tests.flow_tests.probe import probe
from tests.flow_tests.projects import batch, land, make_project

runner = CliRunner()


def _invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def tuned(
    tmp_path_factory: pytest.TempPathFactory, template_store: Path, prefect_server: None
) -> Path:
    """A project tuned once through the CLI, shared by the read-mostly tests below."""
    root = tmp_path_factory.mktemp("cli-project")
    config = make_project(root, template_store)
    land(root, "a-2024-01", batch(np.random.default_rng(0), "2024-01-01"))
    code, output = _invoke("tune", "--config", str(config))
    assert code == 0, output
    assert "PROMOTED: no champion yet" in output  # the verdict once, not "PROMOTED: promoted"
    return config


def test_status_lists_the_champion_searches_and_audit(tuned: Path) -> None:
    code, output = _invoke("status", "--config", str(tuned))
    assert code == 0, output
    assert "champion: version 1" in output
    assert "recent searches" in output and "manual" in output
    assert "promote" in output


def test_check_drift_then_nothing_new(tuned: Path) -> None:
    land(tuned.parent, "b-2024-02", batch(np.random.default_rng(1), "2024-02-01"))
    code, output = _invoke("check-drift", "--config", str(tuned), "--no-retune")
    assert code == 0, output
    assert "Drift check of b-2024-02.csv" in output and "Data drift:" in output
    code, output = _invoke("check-drift", "--config", str(tuned))
    assert code == 0 and "nothing new" in output


def test_check_drift_exit_code_tells_drift_from_none(tuned: Path) -> None:
    land(tuned.parent, "c-2024-03", batch(np.random.default_rng(2), "2024-03-01", shift=2.0))
    args = ("check-drift", "--config", str(tuned), "--no-retune", "--exit-code")
    code, output = _invoke(*args)
    assert code == DRIFT_EXIT_CODE == 3, output
    assert "Drift check of c-2024-03.csv: DRIFT" in output
    # Piped, as here, the report's table keeps its rows whole instead of wrapping at 80 columns
    # (a COLUMNS the caller set still wins, so only without one).
    if "COLUMNS" not in os.environ:
        assert max(len(line) for line in output.splitlines()) > 80, output
    code, output = _invoke(*args)
    assert code == 0 and "nothing new" in output, output


def test_predict_keeps_the_input_columns(tuned: Path, tmp_path: Path) -> None:
    source = tmp_path / "new.csv"
    batch(np.random.default_rng(5), "2025-01-01", n=20).drop(columns="label").to_csv(
        source, index=False
    )
    target = tmp_path / "scored.parquet"
    code, output = _invoke("predict", str(source), str(target), "--config", str(tuned))
    assert code == 0, output
    scored = pd.read_parquet(target)
    assert list(scored.columns[:4]) == ["when", "x1", "x2", "colour"]
    assert set(scored["prediction"]) <= {"yes", "no"}
    np.testing.assert_allclose(scored[["proba_no", "proba_yes"]].sum(axis=1), 1.0)


def test_promote_and_rollback_by_hand(tuned: Path) -> None:
    code, output = _invoke("tune", "--config", str(tuned))
    assert code == 0, output
    # The gate decides whether version 2 won; hand-promote whichever version it left behind.
    store = open_store(load_config(tuned))
    current = champion(store)
    assert current is not None and current.version in {"1", "2"}
    other = "1" if current.version == "2" else "2"
    code, output = _invoke(
        "promote", other, "--reason", "manual review", "--who", "alice", "--config", str(tuned)
    )
    assert code == 0, output
    assert f"version {other} is the champion" in output
    result = runner.invoke(
        app,
        ["rollback", "--reason", "it misbehaves", "--config", str(tuned)],
        env={"DRIFTUNE_USER": "bob"},
    )
    assert result.exit_code == 0, result.output
    assert f"version {current.version} is the champion again" in result.output
    # The person, not the account the process runs under, is who the audit trail names.
    by_event = {r.event: r.who for r in list_audit(store)[-2:]}
    assert by_event == {"promote": "alice", "rollback": "bob"}
    code, output = _invoke("status", "--config", str(tuned))
    assert "it misbehaves" in output and "rollback" in output


def test_init_writes_a_config_that_loads(tmp_path: Path) -> None:
    target = tmp_path / "driftune.yaml"
    code, output = _invoke("init", str(target), "--sample", "rainfall")
    assert code == 0, output
    assert "label: rain" in target.read_text()
    code, output = _invoke("init", str(target))
    assert code == 1 and "exists already" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tune", "--config", "no/such.yaml"], "no such config file"),
        (["status", "--config", "no/such.yaml"], "no such config file"),
        (["init", "x.yaml", "--sample", "iris"], "unknown sample 'iris'"),
    ],
)
def test_errors_print_one_line_and_exit_non_zero(args: list[str], message: str) -> None:
    code, output = _invoke(*args)
    assert code == 1
    assert message in output and "Traceback" not in output


def test_a_bad_config_key_is_named(tmp_path: Path) -> None:
    config = make_project(tmp_path)
    config.write_text(config.read_text().replace("rounds: 2", "rounds: -1"))
    code, output = _invoke("tune", "--config", str(config))
    assert code == 1 and "search.rounds" in output and "Traceback" not in output


def test_bad_data_names_the_file_and_column(tmp_path: Path, prefect_server: None) -> None:
    config = make_project(tmp_path)
    land(tmp_path, "a", batch(np.random.default_rng(0), "2024-01-01").drop(columns="label"))
    code, output = _invoke("tune", "--config", str(config))
    assert code == 1, output
    assert "a.csv" in output and "'label'" in output and "Traceback" not in output


def test_predict_without_a_champion_says_what_to_do(tmp_path: Path, template_store: Path) -> None:
    config = make_project(tmp_path, template_store)
    source = tmp_path / "in.csv"
    batch(np.random.default_rng(0), "2024-01-01", n=5).to_csv(source, index=False)
    code, output = _invoke("predict", str(source), str(tmp_path / "out.csv"), "-c", str(config))
    assert code == 1 and "driftune tune" in output


def test_serve_hands_the_three_scheduled_deployments_to_prefect(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: list[object] = []
    # serve() runs until interrupted: capture what it would run instead of blocking the test.
    monkeypatch.setattr("flows.deployments.serve", lambda *deployments: served.extend(deployments))
    config = make_project(tmp_path)
    code, output = _invoke("serve", "--config", str(config))
    assert code == 0, output
    assert "drift-check-toy (0 * * * *)" in output
    names = [d.name for d in served]  # type: ignore[attr-defined]
    assert names == ["drift-check-toy", "retune-scheduled-toy", "retune-toy"]


def test_ui_opens_mlflow_on_the_project_store(
    tmp_path: Path, template_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    launched: list[list[str]] = []
    # The command replaces this process with the MLflow server: record the command line.
    monkeypatch.setattr("os.execv", lambda path, argv: launched.append(list(argv)))
    config = make_project(tmp_path, template_store)
    code, output = _invoke("ui", "--config", str(config), "--port", "5055")
    assert code == 0, output
    command = launched[0]
    assert command[1:4] == ["-m", "mlflow", "ui"]
    store = command[command.index("--backend-store-uri") + 1]
    assert store == f"sqlite:///{tmp_path.resolve() / '.driftune' / 'mlflow.db'}"
    assert command[-1] == "5055"


def test_ui_with_a_tracking_server_points_at_its_own_ui(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    launched: list[list[str]] = []
    monkeypatch.setattr("os.execv", lambda path, argv: launched.append(list(argv)))
    config = make_project(tmp_path)
    raw = yaml.safe_load(config.read_text())
    raw["tracking"] = {"uri": "http://mlflow.example:5000"}
    config.write_text(yaml.safe_dump(raw))
    code, output = _invoke("ui", "--config", str(config))
    assert code == 0, output
    assert "MLflow UI on http://mlflow.example:5000" in output
    assert launched == []  # nothing to start: `mlflow ui` cannot run on an http:// store


NOT_FOR_SCORING = {"prefect", "sklearn", "matplotlib"}


def test_commands_that_run_no_flow_need_no_prefect_and_load_only_what_they_use(
    tuned: Path, tmp_path: Path
) -> None:
    root = tuned.parent
    # The project sets search.fixed: its check is plain Python (models/settings.py), no torch.
    plain = str(tuned)
    assert "fixed" in yaml.safe_load(tuned.read_text())["search"]
    store = open_store(load_config(tuned))
    client = store.client
    if len(client.search_model_versions(f"name = '{store.name}'")) < 2:
        assert _invoke("tune", "--config", str(tuned))[0] == 0  # a version to promote
    current = champion(store)
    assert current is not None
    other = "1" if current.version != "1" else "2"
    source = tmp_path / "new.csv"
    batch(np.random.default_rng(5), "2025-01-01", n=20).drop(columns="label").to_csv(
        source, index=False
    )
    cases: list[tuple[list[str], set[str]]] = [
        (["--help"], {"prefect", "mlflow", "torch", "pandas"}),
        (["--version"], {"prefect", "mlflow", "torch", "pandas"}),
        (["init", str(tmp_path / "new.yaml")], {"prefect", "mlflow", "torch", "sklearn"}),
        (["status", "-c", plain], {"prefect", "torch", "sklearn", "matplotlib"}),
        (["ui", "-c", plain], {"prefect", "torch", "sklearn", "matplotlib"}),
        # Scoring needs torch and the stored encoding, not scikit-learn or the search figures.
        (["predict", str(source), str(tmp_path / "out.csv"), "-c", plain], NOT_FOR_SCORING),
        (["promote", other, "--reason", "probe", "-c", plain], NOT_FOR_SCORING),
        (["rollback", "--reason", "probe", "-c", plain], NOT_FOR_SCORING),
    ]
    for args, never in cases:
        code, loaded, output = probe(*args, cwd=root)
        assert code == 0, (args, output)
        assert not loaded & never, f"{args[0]} imported {sorted(loaded & never)}"
    assert not (root / ".driftune" / "prefect").exists(), "no local Prefect server was started"


def test_a_bad_config_is_told_before_prefect_or_mlflow_is_imported(tmp_path: Path) -> None:
    config = make_project(tmp_path)
    config.write_text(config.read_text().replace("rounds: 2", "rounds: -1"))
    for command in ("tune", "check-drift", "serve", "status", "promote"):
        extra = ["1", "--reason", "x"] if command == "promote" else []
        code, loaded, output = probe(command, *extra, "-c", str(config), cwd=tmp_path)
        assert code == 1 and "search.rounds" in output and "Traceback" not in output, output
        assert not loaded & {"prefect", "mlflow", "torch"}, f"{command} imported {sorted(loaded)}"


def test_a_missing_dataset_is_told_before_any_server(tmp_path: Path) -> None:
    config = make_project(tmp_path)
    (tmp_path / "incoming").rmdir()
    code, loaded, output = probe("tune", "-c", str(config), cwd=tmp_path)
    assert code == 1 and "dataset.path" in output and "incoming" in output, output
    assert not loaded & {"prefect", "mlflow"}


def test_version_prints_the_installed_version() -> None:
    code, output = _invoke("--version")
    assert code == 0 and output.startswith("driftune ")
