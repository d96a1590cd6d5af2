"""The pyfunc model: raw frames in (categoricals, missing values), the estimator's answers out."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from sklearn.compose import ColumnTransformer
from sklearn.preprocessing import FunctionTransformer

from data.preprocessing import make_preprocessor
from data.schema import FeatureSet
from flows.store.handle import Store
from flows.store.packaging import Scorer, load_scorer, log_model, pinned_requirements, save_model
from models.estimator import BNSoftmaxClassifier

FEATURES = FeatureSet(numeric=("temp", "wind", "day"), categorical=("sky",))


@pytest.fixture(autouse=True)
def sys_path_restored() -> Iterator[None]:
    """mlflow.pyfunc.load_model puts the model's code/ first on sys.path; later tests (and the
    processes they spawn, Dask workers among them) must import the installed driftune."""
    before = list(sys.path)
    yield
    sys.path[:] = before


def raw_frame(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "temp": rng.normal(10, 5, n),
            "wind": rng.gamma(2.0, 2.0, n),
            "day": rng.integers(0, 7, n),  # an integer feature: int64 in, float with NaN later
            "sky": rng.choice(["clear", "cloudy", "fog"], n),
        }
    )
    frame.loc[::9, "temp"] = np.nan
    frame.loc[::13, "sky"] = None
    rain = (frame["sky"].eq("cloudy") & (frame["wind"] > 3)) | (frame["temp"] < 5)
    return frame, np.where(rain, "rain", "dry")


@pytest.fixture(scope="module")
def fitted() -> tuple[BNSoftmaxClassifier, ColumnTransformer, pd.DataFrame]:
    frame, labels = raw_frame(240, seed=0)
    preprocessor = make_preprocessor(FEATURES).fit(frame)
    estimator = BNSoftmaxClassifier(
        n_layers=1, hidden_units=8, max_epochs=4, batch_size=32, random_state=0
    ).fit(preprocessor.transform(frame), labels)
    return estimator, preprocessor, frame


@pytest.fixture(scope="module")
def model_folder(fitted, tmp_path_factory: pytest.TempPathFactory) -> Path:
    estimator, preprocessor, frame = fitted
    folder = tmp_path_factory.mktemp("pyfunc") / "model"
    save_model(folder, Scorer.from_estimator(estimator, preprocessor, FEATURES, frame), frame)
    return folder


def test_pyfunc_scores_raw_frames_like_the_estimator(fitted, model_folder: Path) -> None:
    estimator, preprocessor, _ = fitted
    new, _ = raw_frame(60, seed=1)
    new.loc[::4, "day"] = np.nan  # the integer feature now arrives as floats with gaps
    new.loc[5, "sky"] = "hail"  # a category never seen in training
    model = mlflow.pyfunc.load_model(str(model_folder))
    out = model.predict(new)
    X = preprocessor.transform(new)
    assert list(out.columns) == ["prediction", "proba_dry", "proba_rain"]
    assert (out["prediction"].to_numpy() == estimator.predict(X)).all()
    np.testing.assert_allclose(out[["proba_dry", "proba_rain"]], estimator.predict_proba(X))
    one_row = model.predict(new.iloc[[7]])
    # batch norm in eval mode: a row alone scores as inside a batch (up to float32 rounding)
    assert one_row["prediction"].iloc[0] == out["prediction"].iloc[7]
    np.testing.assert_allclose(
        one_row.iloc[0, 1:].to_numpy(float), out.iloc[7, 1:].to_numpy(float), rtol=1e-5
    )


def test_training_dtypes_and_a_shuffled_index_are_accepted(fitted, model_folder: Path) -> None:
    estimator, preprocessor, frame = fitted
    shuffled = frame.sample(frac=1.0, random_state=3)[["sky", "day", "wind", "temp"]]
    out = mlflow.pyfunc.load_model(str(model_folder)).predict(shuffled)
    assert (out.index == shuffled.index).all()
    expected = estimator.predict(preprocessor.transform(shuffled))
    assert (out["prediction"].to_numpy() == expected).all()


def test_model_folder_holds_no_pickle(model_folder: Path) -> None:
    files = {p.relative_to(model_folder).as_posix() for p in model_folder.rglob("*") if p.is_file()}
    assert not [f for f in files if f.endswith((".pkl", ".pickle", ".cloudpickle"))]
    assert {
        "artifacts/weights.pt",
        "artifacts/preprocessor.json",
        "artifacts/network.json",
    } <= files
    assert {
        "code/flows/store/packaging.py",
        "code/flows/store/model_files.py",
        "code/models/net.py",
        "code/data/preprocessing.py",
    } <= files
    assert not [f for f in files if f.startswith("code/data/samples/") and not f.endswith(".py")]
    state = torch.load(model_folder / "artifacts" / "weights.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    flavor = yaml.safe_load((model_folder / "MLmodel").read_text())["flavors"]["python_function"]
    assert flavor["loader_module"] == "mlflow.pyfunc.loaders.code_model"
    assert "python_model" not in flavor


def test_signature_example_and_pinned_requirements(model_folder: Path) -> None:
    info = mlflow.models.Model.load(str(model_folder))
    inputs = {spec.name: spec.to_dict()["type"] for spec in info.signature.inputs.inputs}
    assert inputs == {"temp": "double", "wind": "double", "day": "any", "sky": "string"}
    assert info.signature.outputs.input_names() == ["prediction", "proba_dry", "proba_rain"]
    assert (model_folder / "input_example.json").is_file()
    requirements = (model_folder / "requirements.txt").read_text().split()
    assert set(pinned_requirements()) <= set(requirements)
    assert any(r.startswith("torch==") for r in requirements)


def test_missing_feature_column_is_refused(model_folder: Path) -> None:
    new, _ = raw_frame(5, seed=2)
    with pytest.raises(Exception, match="wind"):
        mlflow.pyfunc.load_model(str(model_folder)).predict(new.drop(columns="wind"))


def _shout(frame: pd.DataFrame) -> pd.DataFrame:
    return frame


def test_a_preprocessor_with_a_function_inside_has_no_saved_form(fitted) -> None:
    # The saved preprocessor is numbers in JSON: code cannot travel in it, so a
    # transformer carrying a function is refused when the scorer is built, not later.
    estimator, _, frame = fitted
    sneaky = ColumnTransformer([("x", FunctionTransformer(_shout), ["temp", "wind", "day"])])
    sneaky.fit(frame)
    with pytest.raises(ValueError, match="make_preprocessor"):
        Scorer.from_estimator(estimator, sneaky, FEATURES, frame)


def test_log_model_through_the_client_and_load_it_as_data(fitted, module_store: Store) -> None:
    client = module_store.client
    estimator, preprocessor, frame = fitted
    run_id = client.create_run(module_store.experiment_id("search")).info.run_id
    scorer = Scorer.from_estimator(estimator, preprocessor, FEATURES, frame)
    ref = log_model(client, run_id, scorer, frame, params=estimator.get_params())
    logged = client.get_logged_model(ref.model_id)
    assert logged.status.to_int() == logged.status.READY.to_int()
    assert logged.source_run_id == run_id
    assert logged.params["hidden_units"] == "8"
    assert set(ref.sha256) == {"network.json", "weights.pt", "preprocessor.json", "contract.json"}
    model = load_scorer(client, logged.artifact_location, ref.sha256, "the logged model")
    new, _ = raw_frame(20, seed=4)
    out = model.predict(new)
    expected = estimator.predict(preprocessor.transform(new))
    assert (out["prediction"].to_numpy() == expected).all()


@pytest.fixture(scope="module")
def ensemble(fitted) -> tuple[Scorer, list[tuple[BNSoftmaxClassifier, float]], ColumnTransformer]:
    """Three differently shaped members fitted on the same rows, weighted 0.5, 0.3 and 0.2."""
    _, preprocessor, frame = fitted
    _, labels = raw_frame(240, seed=0)
    X = preprocessor.transform(frame)
    shapes = [(1, 8), (2, 16), (0, 0)]
    members = [
        (
            BNSoftmaxClassifier(
                n_layers=layers, hidden_units=units, max_epochs=4, batch_size=32, random_state=k
            ).fit(X, labels),
            weight,
        )
        for k, ((layers, units), weight) in enumerate(zip(shapes, (5.0, 3.0, 2.0), strict=True))
    ]
    return Scorer.from_estimators(members, preprocessor, FEATURES, frame), members, preprocessor


def _averaged(members, preprocessor, frame: pd.DataFrame) -> np.ndarray:
    X = preprocessor.transform(frame)
    total = sum(weight for _, weight in members)
    return sum(weight / total * estimator.predict_proba(X) for estimator, weight in members)


def test_an_ensemble_scores_the_weighted_average_of_its_members(ensemble) -> None:
    scorer, members, preprocessor = ensemble
    assert scorer.weights == pytest.approx((0.5, 0.3, 0.2))
    new, _ = raw_frame(50, seed=5)
    out = scorer.score(new)
    expected = _averaged(members, preprocessor, new)
    np.testing.assert_allclose(out[["proba_dry", "proba_rain"]], expected, rtol=1e-6)
    labels = np.asarray(scorer.classes, dtype=object)[expected.argmax(axis=1)]
    assert (out["prediction"].to_numpy() == labels).all()


def test_an_ensemble_round_trips_as_data_and_as_a_pyfunc(ensemble, tmp_path: Path) -> None:
    scorer, members, preprocessor = ensemble
    frame, _ = raw_frame(240, seed=0)
    folder = tmp_path / "model"
    save_model(folder, scorer, frame)
    description = json.loads((folder / "artifacts" / "network.json").read_text())
    assert [m["weight"] for m in description["members"]] == pytest.approx([0.5, 0.3, 0.2])
    assert [m["architecture"]["n_layers"] for m in description["members"]] == [1, 2, 0]
    new, _ = raw_frame(30, seed=6)
    expected = _averaged(members, preprocessor, new)
    loaded = Scorer.load({p.name: p for p in (folder / "artifacts").iterdir()})
    np.testing.assert_allclose(loaded.score(new)[["proba_dry", "proba_rain"]], expected, rtol=1e-6)
    pyfunc = mlflow.pyfunc.load_model(str(folder)).predict(new)
    np.testing.assert_allclose(pyfunc[["proba_dry", "proba_rain"]], expected, rtol=1e-6)
