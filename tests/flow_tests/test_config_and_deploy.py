"""Config validation names the key; deploy/ files parse, import and name their services."""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path

import pytest
import yaml

from data.errors import ConfigError
from flows.cli.init_template import SAMPLES, render_example
from flows.config import load_config, parse_config
from flows.deployments import KINDS, build_deployments, deployment_name

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
MINIMAL = {"name": "p", "dataset": {"path": "data.csv", "label": "y"}}


def test_minimal_config_gets_working_defaults() -> None:
    config = parse_config(MINIMAL)
    assert config.search.strategy == "caviar" and config.search.rounds >= 1
    assert list(config.search.plan.space) == [
        "learning_rate",
        "momentum",
        "n_layers",
        "hidden_units",
        "batch_size",
    ]
    assert config.runner.kind == "threads"


@pytest.mark.parametrize(
    ("patch", "key"),
    [
        ({"search": {"rounds": 0}}, "search.rounds"),
        ({"search": {"strategy": "grid"}}, "search.strategy"),
        ({"drift": {"correction": "sidak"}}, "drift.correction"),
        ({"runner": {"kind": "dask"}}, "runner"),
        (
            # The bound is what is wrong, so the message must say so, not merely name the key.
            {"search": {"space": {"learning_rate": {"type": "LogUniform", "low": 0, "high": 1}}}},
            "search.space: learning_rate: LogUniform needs 0 < low < high",
        ),
        ({"colour": "blue"}, "colour"),
        ({"name": "has space"}, "name"),
    ],
)
def test_bad_values_name_their_key(patch: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        parse_config({**MINIMAL, **patch})


@pytest.mark.parametrize(
    ("fixed", "problem"),
    [
        ({"epochs": 3}, "unknown estimator settings ['epochs']"),
        ({"activation": "swish"}, "activation must be one of"),
        ({"patience": 0}, "patience must be at least 1"),
        ({"bn_momentum": 0.0}, "bn_momentum must lie in"),
    ],
)
def test_bad_fixed_settings_fail_at_load_not_in_every_trial(
    fixed: dict[str, object], problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({**MINIMAL, "search": {"fixed": fixed}})
    assert "search.fixed" in str(caught.value) and problem in str(caught.value)


def test_missing_dataset_is_named() -> None:
    with pytest.raises(ConfigError, match="dataset"):
        parse_config({"name": "p"})


@pytest.mark.parametrize("name", ["seattle-weather", "rainfall"])
def test_shipped_configs_and_init_examples_load(name: str, tmp_path: Path) -> None:
    shipped = load_config(DEPLOY / "configs" / f"{name}.yaml")
    assert shipped.spec().path.is_file()
    example = tmp_path / "driftune.yaml"
    example.write_text(render_example(name))
    example_config = load_config(example)
    assert example_config.spec().path == shipped.spec().path.resolve()
    assert example_config.dataset.label == SAMPLES[name]["label"] == shipped.dataset.label


def test_prefect_yaml_declares_the_three_deployments_with_importable_entrypoints() -> None:
    declared = yaml.safe_load((DEPLOY / "prefect.yaml").read_text())
    by_name = {d["name"]: d for d in declared["deployments"]}
    # The same names `driftune deploy` gives the seattle-weather project.
    assert set(by_name) == {deployment_name(kind, "seattle-weather") for kind in KINDS}
    assert by_name["drift-check-seattle-weather"]["schedules"][0]["cron"]
    scheduled = by_name["retune-scheduled-seattle-weather"]
    assert scheduled["parameters"]["request"]["trigger"] == "schedule"
    assert "schedules" not in by_name["retune-seattle-weather"]
    for deployment in declared["deployments"]:
        file, function = deployment["entrypoint"].split(":")
        module = importlib.import_module(file.removesuffix(".py").replace("/", "."))
        assert callable(getattr(module, function))
        config_path = deployment["parameters"]["request"]["config_path"]
        assert (ROOT / config_path).is_file()


def test_compose_file_names_every_service() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = set(compose["services"])
    assert {"postgres", "prefect-server", "mlflow", "minio", "worker"} <= services
    mlflow_command = compose["services"]["mlflow"]["command"]
    # The driver the server extra installs, and the worker's Host header allowed (MLflow 3).
    assert "--backend-store-uri postgresql+psycopg://" in mlflow_command
    assert "s3://" in mlflow_command and "--serve-artifacts" in mlflow_command
    allowed = mlflow_command.split("--allowed-hosts ")[1].split()[0]
    assert "mlflow:5000" in allowed.removeprefix("${MLFLOW_ALLOWED_HOSTS:-").split(",")
    assert 'pip install -e ".[cluster,server]"' in (DEPLOY / "Dockerfile").read_text()
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert any(need.startswith("psycopg[binary]") for need in extras["server"])
    assert (
        "postgresql"
        in compose["services"]["prefect-server"]["environment"][
            "PREFECT_API_DATABASE_CONNECTION_URL"
        ]
    )


def test_serve_builds_the_same_three_deployments_with_the_config_schedules() -> None:
    path = DEPLOY / "configs" / "seattle-weather.yaml"
    deployments = build_deployments(path, load_config(path))
    names = ["drift-check-seattle-weather", "retune-scheduled-seattle-weather"]
    assert [d.name for d in deployments] == [*names, "retune-seattle-weather"]
    assert deployments[0].schedules[0].schedule.cron == "0 * * * *"
    assert deployments[1].parameters["request"]["trigger"] == "schedule"
    assert not deployments[2].schedules


POLICY_SECTIONS = ("window", "search", "drift", "promotion")


def _flat(prefix: str, value: object) -> dict[str, object]:
    if isinstance(value, dict):
        return {
            k: v for key, inner in value.items() for k, v in _flat(f"{prefix}.{key}", inner).items()
        }
    return {prefix: value}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_init_writes_the_policy_defaults_and_shipped_configs_carry_none(
    name: str, tmp_path: Path
) -> None:
    """The defaults are the defaults: what `driftune init` writes is the config model's, and a
    shipped config sets no policy value (its backtest measures what a new user gets)."""
    defaults = parse_config(MINIMAL).model_dump(mode="json")
    example = tmp_path / "driftune.yaml"
    example.write_text(render_example(name))
    written = yaml.safe_load(example.read_text())
    for section in POLICY_SECTIONS:
        expected = _flat(section, defaults[section])
        for key, value in _flat(section, written.get(section, {})).items():
            assert value == expected[key], (
                f"driftune init writes {key}: {value}, not {expected[key]}"
            )
    shipped = yaml.safe_load((DEPLOY / "configs" / f"{name}.yaml").read_text())
    assert not set(shipped) & set(POLICY_SECTIONS), f"{name}.yaml sets {set(shipped)}"


def test_the_readme_configuration_table_states_the_defaults() -> None:
    readme = (ROOT / "README.md").read_text()
    defaults = parse_config(MINIMAL)
    for phrase in (
        f"`periods` ({defaults.window.periods}",
        f"`validation` ({defaults.window.validation})",
        f"`holdout` ({defaults.window.holdout})",
        f"`rounds` ({defaults.search.rounds})",
        f"`trials_per_round` ({defaults.search.trials_per_round})",
        f"`standing_candidate` ({str(defaults.search.standing_candidate).lower()}",
        f"`max_members` {defaults.search.ensemble.max_members}",
        f"`steps` {defaults.search.ensemble.steps}",
        f"`method` {defaults.search.ensemble.method}",
        f"`folds` {defaults.search.cross_validation.folds}",
        f"`min_rows` {defaults.search.fidelity.min_rows}",  # type: ignore[union-attr]
        f"`reduction_factor` {defaults.search.fidelity.reduction_factor}",  # type: ignore[union-attr]
        f"`epoch_factor` {defaults.search.fidelity.epoch_factor}",  # type: ignore[union-attr]
        f"`margin` ({defaults.promotion.margin})",
    ):
        assert phrase in readme, phrase
