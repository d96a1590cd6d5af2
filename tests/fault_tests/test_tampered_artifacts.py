"""A champion tampered with in the artifact store: nothing stored runs, and a one-line refusal.

Each vector writes code that would leave a marker file if it ran. driftune loads the champion
as data (flows.store.model_files), so the marker never appears; where the champion's data changed,
loading is refused with one line naming the version and the file. Vectors whose change escapes
the SHA-256 check (someone who can also write the registry's tags) meet the strict readers.
"""

from __future__ import annotations

import json
import os
import pathlib
import pickle
import subprocess
import sys
from pathlib import Path

import cloudpickle
import pandas as pd
import pytest
import torch
import yaml

from flows.store.model_files import ARTIFACT_FILES, CONTRACT_FILE, ModelLoadError
from flows.store.packaging import PICKLE_SETTING
from flows.store.registry import SHA256_PREFIX, list_audit, load_champion_model
from models.net import BNSoftmaxNet
from tests.fault_tests.champions import (
    ChampionProject,
    assert_one_line_refusal,
    champion_project,
    copy_champion,
    run_cli,
    train_scorer,
)
from tests.fault_tests.processes import invoke

RECORDED_FILES = (*ARTIFACT_FILES, CONTRACT_FILE)  # every file whose SHA-256 a version records


@pytest.fixture(scope="module")
def champion(tmp_path_factory: pytest.TempPathFactory, template_store: Path) -> ChampionProject:
    """The module's champion, trained, logged and registered once; tests tamper with copies."""
    root = tmp_path_factory.mktemp("tampered") / "project"
    return champion_project(root, template_store, train_scorer())


@pytest.fixture
def project(tmp_path: Path, champion: ChampionProject) -> ChampionProject:
    return copy_champion(champion, tmp_path / "project")


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "injected-code-ran"


class LeavesMarker:
    """Unpickling this runs ``Path(marker).write_text("ran")``: the payload of every pickle."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return (pathlib.Path.write_text, (pathlib.Path(self.marker), "ran"))


def load(project: ChampionProject) -> pd.DataFrame:
    return load_champion_model(project.store).predict(pd.read_csv(project.rows))


def refusal(project: ChampionProject) -> str:
    with pytest.raises(ModelLoadError) as caught:
        load(project)
    message = str(caught.value)
    assert len(message.splitlines()) == 1, message
    assert f"version {project.version} of 'toy'" in message
    return message


def _predict_args(project: ChampionProject, tmp_path: Path) -> list[str]:
    return ["predict", str(project.rows), str(tmp_path / "scored.csv"), "-c", str(project.config)]


def _trust(project: ChampionProject, reason: str) -> tuple[int, str]:
    return invoke("trust", project.version, "--reason", reason, "-c", str(project.config))


def predict_cli(project: ChampionProject, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`driftune predict` in a fresh interpreter, where stored code driftune imported would run.

    In this process driftune's modules are loaded already: an import of the stored copy would
    find them and run nothing, a pass that proves nothing.
    """
    return run_cli(*_predict_args(project, tmp_path))


def pyfunc_load_in_subprocess(
    model_dir: Path, allow_pickle: str, *, as_driftune: bool = False
) -> subprocess.CompletedProcess[str]:
    """MLflow's own loader in a fresh process (it puts the model's code/ on sys.path).

    ``as_driftune`` first calls driftune's ``forbid_pickle_models``, as its processes do.
    """
    forbid = "from flows.store.packaging import forbid_pickle_models; forbid_pickle_models(); "
    code = (forbid if as_driftune else "") + (
        f"import mlflow.pyfunc; mlflow.pyfunc.load_model({str(model_dir)!r})"
    )
    env = {**os.environ, PICKLE_SETTING: allow_pickle}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )


def test_an_untampered_champion_loads_and_scores_as_trained(project: ChampionProject) -> None:
    pd.testing.assert_frame_equal(load(project), project.expected)


def test_an_edited_entry_point_never_runs_in_driftune_predict(
    project: ChampionProject, marker: Path, tmp_path: Path
) -> None:
    injected = f"\nimport pathlib; pathlib.Path({str(marker)!r}).write_text('ran')\n"
    for path in (
        project.model_dir / "driftune_model.py",
        project.model_dir / "code/flows/store/packaging.py",
    ):
        path.write_text(path.read_text() + injected)
    result = predict_cli(project, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not marker.exists()
    scored = pd.read_csv(tmp_path / "scored.csv")
    assert list(scored["prediction"]) == list(project.expected["prediction"])
    # The vector is live: MLflow's models-from-code loader runs the stored file, which is why
    # driftune never loads the champion through it (the pyfunc flavour trusts the store).
    pyfunc_load_in_subprocess(project.model_dir, allow_pickle="false")
    assert marker.read_text() == "ran"


def _rewrite_mlmodel_to_a_pickle(project: ChampionProject, marker: Path) -> None:
    (project.model_dir / "python_model.pkl").write_bytes(cloudpickle.dumps(LeavesMarker(marker)))
    mlmodel = project.model_dir / "MLmodel"
    spec = yaml.safe_load(mlmodel.read_text())
    flavour = spec["flavors"]["python_function"]
    flavour.pop("model_code_path")
    flavour.update(loader_module="mlflow.pyfunc.model", python_model="python_model.pkl")
    flavour["cloudpickle_version"] = cloudpickle.__version__
    mlmodel.write_text(yaml.safe_dump(spec))


def test_an_mlmodel_naming_a_pickle_runs_nothing(project: ChampionProject, marker: Path) -> None:
    _rewrite_mlmodel_to_a_pickle(project, marker)
    pd.testing.assert_frame_equal(load(project), project.expected)  # MLmodel is never read
    assert not marker.exists()
    # With driftune's setting, even MLflow's own loader refuses the pickle ...
    refused = pyfunc_load_in_subprocess(project.model_dir, allow_pickle="true", as_driftune=True)
    assert refused.returncode != 0 and "pickle is disallowed" in refused.stderr, refused.stderr
    assert not marker.exists()
    # ... which MLflow's default would have unpickled: the vector is live.
    pyfunc_load_in_subprocess(project.model_dir, allow_pickle="true")
    assert marker.read_text() == "ran"


def _description(project: ChampionProject) -> dict:
    return json.loads(project.artifact("network.json").read_text())


def _rewrite_description(project: ChampionProject, edit: dict, retag: bool = True) -> None:
    description = _description(project)
    for dotted, value in edit.items():
        *parents, key = dotted.split(".")
        node = description
        for parent in parents:
            node = node[parent]
        if value is DELETE:
            del node[key]
        else:
            node[key] = value
    project.artifact("network.json").write_text(json.dumps(description))
    if retag:
        project.retag("network.json")


DELETE = object()


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        ({"architecture.hidden_units": 1e9}, "architecture.hidden_units"),
        ({"architecture.hidden_units": 10**9}, "architecture.hidden_units"),
        ({"architecture.n_layers": 64, "architecture.hidden_units": 65_536}, "parameters"),
        ({"architecture.n_layers": -1}, "architecture.n_layers"),
        ({"architecture.n_features": "3"}, "architecture.n_features"),
        ({"architecture.n_classes": True}, "architecture.n_classes"),
        ({"architecture.activation": "os.system"}, "architecture.activation"),
        ({"architecture.bn_momentum": float("nan")}, "architecture.bn_momentum"),
        ({"architecture.eps": 0}, "architecture.eps"),
        ({"architecture.dropout": 0.5}, "unknown key architecture.dropout"),
        ({"architecture.n_classes": DELETE}, "missing key architecture.n_classes"),
        ({"loader": "os.system"}, "unknown key loader"),
        ({"classes": ["no", "yes", "maybe"]}, "classes"),
        ({"numeric": [["x1"]]}, "numeric"),
        ({"categorical": ["x1"]}, "disjoint"),
    ],
)
def test_an_out_of_bounds_or_unknown_description_is_refused_by_key(
    project: ChampionProject, edit: dict, named: str
) -> None:
    _rewrite_description(project, edit)
    message = refusal(project)
    assert "network.json" in message and named in message


def test_a_description_that_is_not_json_is_refused(project: ChampionProject) -> None:
    project.artifact("network.json").write_text("[" * 100_000)
    project.retag("network.json")
    assert "network.json is not valid JSON" in refusal(project)


def test_weights_of_the_wrong_shape_are_refused(project: ChampionProject) -> None:
    wrong = BNSoftmaxNet(n_features=5, n_classes=2, n_layers=1, hidden_units=3)
    torch.save(wrong.state_dict(), project.artifact("weights.pt"))
    project.retag("weights.pt")
    message = refusal(project)
    assert "weights.pt: tensor 'hidden.0.linear.weight' is (3, 5)" in message
    assert "needs (8, 5)" in message


@pytest.mark.parametrize("change", ["extra tensor", "float64"])
def test_weights_with_other_tensors_or_dtypes_are_refused(
    project: ChampionProject, change: str
) -> None:
    state = torch.load(project.artifact("weights.pt"), weights_only=True)
    if change == "extra tensor":
        state["hidden.1.linear.weight"] = torch.zeros(8, 8)
    else:
        state = {key: value.double() for key, value in state.items()}
    torch.save(state, project.artifact("weights.pt"))
    project.retag("weights.pt")
    message = refusal(project)
    assert "weights.pt" in message
    assert ("hidden.1.linear.weight" if change == "extra tensor" else "torch.float64") in message


def test_a_pickle_in_the_weights_never_runs(project: ChampionProject, marker: Path) -> None:
    state = torch.load(project.artifact("weights.pt"), weights_only=True)
    torch.save({**state, "output.bias": LeavesMarker(marker)}, project.artifact("weights.pt"))
    project.retag("weights.pt")
    assert "weights.pt is not a plain state_dict of tensors" in refusal(project)
    assert not marker.exists()
    torch.load(project.artifact("weights.pt"), weights_only=False)  # the vector is live
    assert marker.read_text() == "ran"


def test_a_preprocessor_that_names_a_type_is_refused(project: ChampionProject) -> None:
    """The skops-era vector: a description that asks for ``os.system`` to be built is no data."""
    described = json.loads(project.artifact("preprocessor.json").read_text())
    described["categorical"][0]["transform"] = {"type": "posix.system"}
    project.artifact("preprocessor.json").write_text(json.dumps(described))
    project.retag("preprocessor.json")
    assert "preprocessor.json: unknown key 'transform' in a categorical column" in refusal(project)


def test_a_preprocessor_that_is_a_pickle_is_refused(project: ChampionProject, marker: Path) -> None:
    project.artifact("preprocessor.json").write_bytes(cloudpickle.dumps(LeavesMarker(marker)))
    project.retag("preprocessor.json")
    assert "preprocessor.json: " in refusal(project)
    assert not marker.exists()


def test_a_preprocessor_for_other_columns_or_widths_is_refused(project: ChampionProject) -> None:
    described = json.loads(project.artifact("preprocessor.json").read_text())
    described["categorical"][0]["categories"].append("purple")  # one column more than the net
    project.artifact("preprocessor.json").write_text(json.dumps(described))
    project.retag("preprocessor.json")
    assert "makes 6 columns, but network.json's architecture.n_features is 5" in refusal(project)
    described["categorical"][0]["column"] = "hue"
    project.artifact("preprocessor.json").write_text(json.dumps(described))
    project.retag("preprocessor.json")
    assert "encodes the columns ['x1', 'x2', 'hue']" in refusal(project)


@pytest.mark.parametrize("name", RECORDED_FILES)
def test_any_artifact_changed_after_registration_is_refused(
    project: ChampionProject, name: str
) -> None:
    path = project.artifact(name)
    path.write_bytes(path.read_bytes() + b"\n")  # one byte more, and nothing else
    message = refusal(project)
    assert f"{name} does not match the SHA-256 recorded at registration" in message


def test_a_replaced_description_is_refused_by_the_cli_in_one_line(
    project: ChampionProject, tmp_path: Path
) -> None:
    _rewrite_description(project, {"architecture.hidden_units": 1e9}, retag=False)
    code, output = invoke(*_predict_args(project, tmp_path))
    assert_one_line_refusal(code, output, "version 1 of 'toy'", "network.json does not match")
    assert not (tmp_path / "scored.csv").exists()


def test_a_version_without_recorded_hashes_is_refused(project: ChampionProject) -> None:
    for name in RECORDED_FILES:
        project.store.client.delete_model_version_tag(
            project.store.name, project.version, SHA256_PREFIX + name
        )
    message = refusal(project)
    assert "has no recorded SHA-256" in message and "driftune trust" in message


def test_a_version_in_the_skops_format_is_refused_with_what_to_do(
    project: ChampionProject, tmp_path: Path
) -> None:
    # What a version registered before the JSON preprocessor records: hashes of a
    # preprocessor.skops and none of preprocessor.json.
    tags = {"network.json", "weights.pt", "preprocessor.json"}
    digest = project.store.client.get_model_version(project.store.name, project.version).tags[
        SHA256_PREFIX + "preprocessor.json"
    ]
    project.store.client.delete_model_version_tag(
        project.store.name, project.version, SHA256_PREFIX + "preprocessor.json"
    )
    project.store.client.set_model_version_tag(
        project.store.name, project.version, SHA256_PREFIX + "preprocessor.skops", digest
    )
    assert tags == set(ARTIFACT_FILES)
    code, output = invoke(*_predict_args(project, tmp_path))
    assert_one_line_refusal(code, output, "version 1 of 'toy'", "preprocessor.skops")
    assert "driftune tune" in output


def test_trust_records_the_hashes_of_a_reviewed_version_once(
    project: ChampionProject, tmp_path: Path
) -> None:
    for name in RECORDED_FILES:
        project.store.client.delete_model_version_tag(
            project.store.name, project.version, SHA256_PREFIX + name
        )
    code, output = _trust(project, "reviewed")
    assert code == 0, output
    code, output = invoke(*_predict_args(project, tmp_path))
    assert code == 0, output
    events = [r for r in list_audit(project.store) if r.event == "trust"]
    assert [(r.version, r.reason) for r in events] == [(project.version, "reviewed")]
    code, output = _trust(project, "twice")
    assert code == 1 and "recorded already" in output, output


def test_trust_refuses_a_version_whose_files_are_not_plain_data(
    project: ChampionProject, marker: Path
) -> None:
    for name in RECORDED_FILES:
        project.store.client.delete_model_version_tag(
            project.store.name, project.version, SHA256_PREFIX + name
        )
    with project.artifact("weights.pt").open("wb") as handle:
        pickle.dump(LeavesMarker(marker), handle)
    code, output = _trust(project, "reviewed")
    assert code == 1 and "Traceback" not in output, output
    assert not marker.exists()
    tags = project.store.client.get_model_version(project.store.name, project.version).tags
    assert not any(key.startswith(SHA256_PREFIX) for key in tags)


def test_the_cli_turns_mlflow_pickle_loading_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from flows.cli.app import app

    monkeypatch.setenv(PICKLE_SETTING, "true")
    result = CliRunner().invoke(app, ["init", str(tmp_path / "driftune.yaml")])
    assert result.exit_code == 0, result.output
    assert os.environ[PICKLE_SETTING] == "false"
