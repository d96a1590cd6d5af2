"""What the config accepts at load, beside what it refuses (the refusals: tests/fault_tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

from data.errors import ConfigError
from flows.config import load_config, parse_config

MINIMAL = {"name": "p", "dataset": {"path": "data.csv", "label": "y"}}


@pytest.mark.parametrize(
    "uri",
    [
        "sqlite:////tmp/store/mlflow.db",
        "sqlite:///relative.db",
        "postgresql://user:pw@db:5432/mlflow",
        "postgresql+psycopg2://user@db/mlflow",
        "mysql+pymysql://user@db/mlflow",
        "mssql+pyodbc://user@db/mlflow",
        "http://127.0.0.1:5000",
        "https://mlflow.example.com",
        "databricks",
        "databricks://profile",
    ],
)
def test_tracking_uris_mlflow_opens_are_accepted(uri: str) -> None:
    assert parse_config({**MINIMAL, "tracking": {"uri": uri}}).tracking.uri == uri


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("file:///tmp/mlruns", "file store"),
        ("/tmp/mlruns", "file store"),
        ("mlruns", "file store"),
        ("ftp://host/x", "unknown scheme 'ftp'"),
        ("postgresql+a+b://db/x", "unknown scheme"),
        ("sqlite://", "in-memory"),
        ("http://", "names no host"),
    ],
)
def test_tracking_uris_that_keep_nothing_are_refused(uri: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=rf"tracking\.uri: .*{problem}"):
        parse_config({**MINIMAL, "tracking": {"uri": uri}})


def test_schedules_prefect_accepts_are_accepted() -> None:
    schedules = {"drift_check": "*/15 6-18 * * mon-fri", "retune": "0 2 1 * *"}
    config = parse_config({**MINIMAL, "schedules": {**schedules, "timezone": "Europe/Paris"}})
    assert config.schedules.drift_check == schedules["drift_check"]


@pytest.mark.parametrize("cron", ["61 * * * *", "every hour", "H * * * *", "* * *"])
def test_crons_prefect_refuses_are_refused_at_load(cron: str) -> None:
    with pytest.raises(ConfigError, match=r"schedules\.drift_check: .*not a cron expression"):
        parse_config({**MINIMAL, "schedules": {"drift_check": cron}})


def test_the_readme_space_loads_with_fixed_settings_beside_it() -> None:
    space = {
        "learning_rate": {"type": "LogUniform", "low": "1e-4", "high": "1e-1"},
        "momentum": {"type": "LogOneMinus", "low": 0.8, "high": 0.999},
        "n_layers": {"type": "IntUniform", "low": 1, "high": 4},
        "batch_size": {"type": "PowerOfTwo", "low": 16, "high": 512},
        "validation_fraction": {"type": "Uniform", "low": 0.0, "high": 0.3},
        "activation": {"type": "Choice", "values": ["relu", "tanh", "elu"]},
    }
    config = parse_config({**MINIMAL, "search": {"space": space, "fixed": {"max_epochs": 5}}})
    assert list(config.search.plan.space) == list(space)


def test_a_searched_setting_the_default_fixed_also_sets_is_searched() -> None:
    # The default search.fixed sets patience; a space that searches it wins without a clash.
    space = {"patience": {"type": "IntUniform", "low": 2, "high": 9}}
    config = parse_config({**MINIMAL, "search": {"space": space}})
    assert "patience" in config.search.plan.space


@pytest.mark.parametrize(
    ("space", "problem"),
    [
        ({"activation": {"type": "choice", "values": ["relu", "banana"]}}, "'banana' is not"),
        ({"n_layers": {"type": "Uniform", "low": 1, "high": 3}}, "whole number"),
        ({"batch_size": {"type": "PowerOfTwo", "low": 1, "high": 64}}, "batch_size: 1 is not"),
        ({"momentum": {"type": "Uniform", "low": 0.5, "high": 1.5}}, "1.5 is not"),
        ({"optimizer": {"type": "Choice", "values": ["adam", 3]}}, "optimizer is text"),
        ({"wings": {"type": "IntUniform", "low": 1, "high": 3}}, "wings: not estimator"),
        ({"random_state": {"type": "IntUniform", "low": 1, "high": 3}}, "set per trial"),
        ({"max_epochs": {"type": "IntUniform", "low": 1, "high": 3}}, "both search.space and"),
    ],
)
def test_a_space_the_estimator_refuses_fails_at_load(space: dict, problem: str) -> None:
    search = {"space": space, "fixed": {"max_epochs": 5}}
    with pytest.raises(ConfigError, match=r"search(\.space)?: ") as caught:
        parse_config({**MINIMAL, "search": search})
    assert problem in str(caught.value)


def test_config_errors_are_one_line(tmp_path: Path) -> None:
    path = tmp_path / "driftune.yaml"
    path.write_text("name: p\ndataset:\n  path: [unclosed\n  label: y\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "\n" not in str(caught.value) and "line 4" in str(caught.value)


def test_fused_rounds_and_pruning_reach_the_plan() -> None:
    search = {"fused": True, "pruning": {"enabled": True, "min_epochs": 2, "reduction_factor": 4}}
    plan = parse_config({**MINIMAL, "search": search}).search.plan
    assert plan.fused and plan.pruner is not None
    assert (plan.pruner.min_epochs, plan.pruner.reduction_factor) == (2, 4)
    default = parse_config(MINIMAL).search.plan
    assert not default.fused and default.pruner is None


@pytest.mark.parametrize(
    ("search", "problem"),
    [
        ({"pruning": {"enabled": True}}, "needs search.fused: true"),
        ({"fused": True, "pruning": {"enabled": True, "reduction_factor": 1}}, "reduction_factor"),
        ({"fused": True, "pruning": {"enabled": True, "min_epochs": 0}}, "min_epochs"),
        ({"fused": True, "pruning": {"rungs": 3}}, "rungs"),
    ],
)
def test_pruning_that_cannot_run_is_refused_at_load(search: dict, problem: str) -> None:
    with pytest.raises(ConfigError, match=r"search") as caught:
        parse_config({**MINIMAL, "search": search})
    assert problem in str(caught.value) and "\n" not in str(caught.value)
