"""What a flow command tells when the Prefect API failed, read from a real registry."""

from __future__ import annotations

from pathlib import Path

from flows.cli.flow_calls import decided_since, read_registry, where_the_champion_stands
from flows.config import load_config
from flows.store.project import open_store
from tests.flow_tests.projects import make_project


def _version(config_path: Path, tmp_path: Path, gate: str | None) -> str:
    store = open_store(load_config(config_path))
    client = store.client
    if not client.search_registered_models(f"name = '{store.name}'"):
        client.create_registered_model(store.name)
    source = tmp_path / "artifacts"
    source.mkdir(exist_ok=True)
    version = str(client.create_model_version(store.name, source=str(source)).version)
    if gate is not None:
        client.set_model_version_tag(store.name, version, "gate", gate)
    return version


def test_a_gate_decision_made_since_the_snapshot_is_the_outcome(
    tmp_path: Path, template_store: Path
) -> None:
    config_path = make_project(tmp_path, template_store)
    config = load_config(config_path)
    before = read_registry(config)
    assert before.champion is None and before.latest == 0
    assert decided_since(config, before) is None  # nothing registered yet
    _version(config_path, tmp_path, gate=None)
    assert decided_since(config, before) is None  # a version without a decision is no outcome
    decided = _version(config_path, tmp_path, gate="refused")
    assert decided_since(config, before) == (decided, "refused")
    assert decided_since(config, read_registry(config)) is None  # older than the snapshot


def test_where_the_champion_stands_compares_with_the_store(
    tmp_path: Path, template_store: Path
) -> None:
    config_path = make_project(tmp_path, template_store)
    config = load_config(config_path)
    before = read_registry(config)
    assert where_the_champion_stands(config, before).endswith(
        "the champion is unchanged (no champion)"
    )
    version = _version(config_path, tmp_path, gate="promoted")
    store = open_store(config)
    client = store.client
    client.set_registered_model_alias(store.name, "champion", version)
    said = where_the_champion_stands(config, before)
    assert said.endswith(f"moved before the failure: no champion -> version {version}")
