"""The champion as files: artifacts driftune reads as data, and a pyfunc for MLflow's tools.

A logged model holds three artifact files: ``network.json`` (the architecture, the classes and
the feature columns), ``weights.pt`` (a plain state_dict) and ``preprocessor.json`` (the fitted
preprocessing as numbers and labels, ``data.encoding``), and a fourth, ``contract.json`` (the
data contract, ``data.contract``: what each feature held when fitted; versions registered before
it existed load without it). Nothing in them is a pickle or code. Their SHA-256 is recorded when
the model is logged, and the registry keeps it on the version.

Two ways to load a model, trusting different things:
- driftune itself (predict, the gate, check-drift, serve) calls ``load_scorer``: it downloads
  only the three artifact files, checks each against its recorded SHA-256, then reads them with
  the installed driftune code (``flows.store.model_files``: a strictly checked, bounded description,
  ``torch.load(weights_only=True)`` checked against the architecture's shapes, a JSON of
  numbers for the preprocessing). Nothing stored in the artifact store runs, whatever anyone
  wrote there.
- ``mlflow.pyfunc.load_model(uri)`` (and ``mlflow models serve``), for MLflow's ecosystem and
  without driftune installed: the model is logged as code ("models from code"), so loading it
  *runs* the stored ``driftune_model.py`` and the ``code/`` folder beside it, then reads the
  artifacts the same strict way. That path trusts whoever can write to the artifact store, as
  every MLflow pyfunc model does; use it only on a store you control. ``predict(frame)`` takes a
  raw pandas DataFrame with the original feature columns (categorical and missing values
  included) and returns a ``prediction`` column and one ``proba_<class>`` column per class.

MLflow deserializes cloudpickled models by default; ``forbid_pickle_models`` turns that off for
the process, so even an ``MLmodel`` rewritten to name a pickle cannot run one through MLflow.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow.artifacts
import mlflow.pyfunc
import numpy as np
import pandas as pd
import torch
from mlflow import MlflowClient
from mlflow.entities import LoggedModelOutput, LoggedModelStatus
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature, infer_signature
from mlflow.pyfunc.model import PythonModel
from mlflow.types.schema import AnyType, ColSpec, Schema

from data.contract import DataContract, InputReport
from data.encoding import FeatureEncoding
from data.errors import MissingColumnError
from data.schema import FeatureSet
from flows.store import model_files
from flows.store.model_files import (
    ARTIFACT_FILES,
    CONTRACT_FILE,
    NETWORK_FILE,
    PREPROCESSOR_FILE,
    WEIGHTS_FILE,
    ModelLoadError,
    first_line,
)
from models.net import BNSoftmaxNet

if TYPE_CHECKING:  # scikit-learn takes most of a second to import; scoring never needs it
    from sklearn.compose import ColumnTransformer

    from models.estimator import BNSoftmaxClassifier

# What versions saved before the preprocessor became JSON hold instead of PREPROCESSOR_FILE.
LEGACY_PREPROCESSOR_FILE = "preprocessor.skops"
PICKLE_SETTING = "MLFLOW_ALLOW_PICKLE_DESERIALIZATION"  # MLflow 3 reads it at every load
# Distributions the model needs at load time, pinned to the versions that saved it. Listing them
# spares MLflow's requirement inference, which loads the model in a subprocess (about 6 s).
REQUIREMENTS = ("mlflow", "torch", "scikit-learn", "pandas", "numpy", "scipy")
CODE_PACKAGES = ("models", "data")
# The only flows modules the pyfunc runs: none of them imports Prefect.
PYFUNC_FLOWS_FILES = (
    "flows/__init__.py",
    "flows/store/__init__.py",
    "flows/store/packaging.py",
    "flows/store/model_files.py",
)
ENTRY_POINT = '''"""driftune's pyfunc entry point: MLflow runs this file to build the model."""
from mlflow.models import set_model

from flows.store.packaging import DriftuneModel

set_model(DriftuneModel())
'''


@dataclass(frozen=True)
class Scorer:
    """The fitted encoding, the network (or an ensemble's networks, each with its weight) and
    the classes: raw frame in, labels and probabilities out.

    An ensemble's probabilities are its members' weighted average (models/ensemble.py); every
    member was fitted on the same rows, so one encoding and one class order serve them all.
    ``contract`` (None for versions registered before driftune recorded one) coerces every input
    to the values the encoding learned before it is encoded.
    """

    encoding: FeatureEncoding
    networks: tuple[BNSoftmaxNet, ...]
    classes: tuple[Any, ...]
    features: FeatureSet
    weights: tuple[float, ...] = (1.0,)
    contract: DataContract | None = None

    def __post_init__(self) -> None:
        if not self.networks or len(self.networks) != len(self.weights):
            raise ValueError(
                f"{len(self.networks)} networks need as many weights, got {len(self.weights)}"
            )

    @property
    def network(self) -> BNSoftmaxNet:
        """The first (for a single model, the only) network."""
        return self.networks[0]

    def probabilities(self, X: np.ndarray) -> np.ndarray:
        """Encoded rows in, the (weighted average) class probabilities out."""
        rows = torch.from_numpy(X)
        proba = np.zeros((len(X), len(self.classes)))
        with torch.inference_mode():
            for network, weight in zip(self.networks, self.weights, strict=True):
                network.eval()
                proba += weight * torch.softmax(network(rows).double(), dim=1).numpy()
        return proba

    def conform(
        self, frame: pd.DataFrame, *, source: str | Path = "the input", first_row: int = 1
    ) -> tuple[pd.DataFrame, InputReport | None]:
        """The features held to the contract and what it counted (None: no contract, as read)."""
        missing = [c for c in self.features.all if c not in frame.columns]
        if missing:
            raise MissingColumnError(
                f"the champion's feature column(s) {', '.join(map(repr, missing))} are missing "
                f"(columns present: {', '.join(map(str, frame.columns))})",
                path=source,
                column=missing[0],
            )
        if self.contract is None:
            return frame[list(self.features.all)], None
        return self.contract.conform(frame, source=source, first_row=first_row)

    def score(self, frame: pd.DataFrame) -> pd.DataFrame:
        return self.score_conformed(self.conform(frame)[0])

    def score_conformed(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``score`` of features ``conform`` returned (so a caller keeps its report)."""
        proba = self.probabilities(self.encoding.transform(frame[list(self.features.all)]))
        labels = np.asarray(self.classes, dtype=object)[np.argmax(proba, axis=1)]
        prediction = pd.Series(labels, index=frame.index).infer_objects()
        out = pd.DataFrame({"prediction": prediction}, index=frame.index)
        for position, label in enumerate(self.classes):
            out[f"proba_{label}"] = proba[:, position]
        return out

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``score`` under the name a pyfunc model gives it, for callers of either."""
        return self.score(frame)

    @classmethod
    def from_estimator(
        cls,
        estimator: BNSoftmaxClassifier,
        preprocessor: ColumnTransformer,
        features: FeatureSet,
        fitted_on: pd.DataFrame,
    ) -> Scorer:
        return cls.from_estimators([(estimator, 1.0)], preprocessor, features, fitted_on)

    @classmethod
    def from_estimators(
        cls,
        members: Sequence[tuple[BNSoftmaxClassifier, float]],
        preprocessor: ColumnTransformer,
        features: FeatureSet,
        fitted_on: pd.DataFrame,
    ) -> Scorer:
        """An ensemble of estimators fitted on the same rows; weights are normalised to one.

        ``fitted_on`` holds the rows the preprocessor was fitted on: the data contract's source.
        """
        classes = tuple(np.asarray(members[0][0].classes_).tolist())
        for estimator, _ in members:
            if tuple(np.asarray(estimator.classes_).tolist()) != classes:
                raise ValueError("ensemble members must share their classes (same rows fitted)")
        total = float(sum(weight for _, weight in members))
        encoding = FeatureEncoding.from_preprocessor(preprocessor, features)
        return cls(
            encoding,
            tuple(estimator.model_ for estimator, _ in members),
            classes,
            features,
            tuple(weight / total for _, weight in members),
            DataContract.learn(fitted_on, encoding),
        )

    def save(self, folder: Path) -> dict[str, str]:
        """Write the artifact files; returns MLflow's artifacts mapping."""
        network: dict[str, Any] = model_files.describe_members(self.networks, self.weights)
        network.update(
            classes=list(self.classes),
            numeric=list(self.features.numeric),
            categorical=list(self.features.categorical),
        )
        paths = {name: folder / name for name in ARTIFACT_FILES}
        paths[NETWORK_FILE].write_text(json.dumps(network, indent=2))
        torch.save(model_files.members_state(self.networks), paths[WEIGHTS_FILE])
        paths[PREPROCESSOR_FILE].write_text(json.dumps(self.encoding.to_dict()))
        if self.contract is not None:
            paths[CONTRACT_FILE] = folder / CONTRACT_FILE
            paths[CONTRACT_FILE].write_text(json.dumps(self.contract.to_dict()))
        return {name: str(path) for name, path in paths.items()}

    @classmethod
    def load(cls, artifacts: Mapping[str, str | Path]) -> Scorer:
        """Read the artifact files as data (flows.store.model_files); nothing in them runs.

        Without ``contract.json`` among them (a version registered before contracts), inputs are
        scored as read.
        """
        paths = {name: Path(artifacts[name]) for name in ARTIFACT_FILES}
        spec = model_files.read_network(paths[NETWORK_FILE])
        states = model_files.read_weights(paths[WEIGHTS_FILE], spec.architectures)
        encoding = model_files.read_encoding(paths[PREPROCESSOR_FILE], spec.features)
        widths = {architecture["n_features"] for architecture in spec.architectures}
        if widths != {encoding.width}:
            raise ModelLoadError(
                f"{PREPROCESSOR_FILE} makes {encoding.width} columns, but {NETWORK_FILE}'s "
                f"architecture.n_features is {sorted(widths)[0]}"
            )
        networks = []
        for architecture, state in zip(spec.architectures, states, strict=True):
            network = BNSoftmaxNet(**architecture)
            network.load_state_dict(state)
            network.eval()
            networks.append(network)
        contract = None
        if CONTRACT_FILE in artifacts:
            contract = model_files.read_contract(Path(artifacts[CONTRACT_FILE]), encoding)
        return cls(encoding, tuple(networks), spec.classes, spec.features, spec.weights, contract)


class DriftuneModel(PythonModel):
    """The pyfunc wrapper: reads the artifacts in ``load_context``, scores raw frames."""

    def load_context(self, context: Any) -> None:
        self._scorer = Scorer.load(context.artifacts)

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        return self._scorer.score(pd.DataFrame(model_input))


def save_model(path: str | Path, scorer: Scorer, input_example: pd.DataFrame) -> None:
    """Write an MLflow model folder at ``path`` (which must not exist or be empty)."""
    example = input_example[list(scorer.features.all)].head(5)
    signature = ModelSignature(
        inputs=input_schema(example, scorer.features),
        outputs=infer_signature(example, scorer.score(example)).outputs,
    )
    with tempfile.TemporaryDirectory(prefix="driftune-model-") as staging:
        folder = Path(staging)
        artifacts = scorer.save(folder)
        entry = folder / "driftune_model.py"
        entry.write_text(ENTRY_POINT)
        mlflow.pyfunc.save_model(
            path=str(path),
            python_model=str(entry),
            artifacts=artifacts,
            code_paths=_stage_code(folder / "code"),
            pip_requirements=pinned_requirements(),
            signature=signature,
            input_example=example,
        )


def input_schema(frame: pd.DataFrame, features: FeatureSet) -> Schema:
    """Every feature column required; missing values inside any of them are fine.

    Float features are ``double`` and text features ``string``. Any other dtype (an integer
    feature, say) is declared ``any``: MLflow refuses to cast int64 to double, and a missing
    value turns an integer column into floats, so a fixed type would reject one of the two.
    """
    specs: list[Any] = []
    for column in features.all:
        dtype = frame[column].dtype
        if column in features.numeric and pd.api.types.is_float_dtype(dtype):
            kind: Any = "double"
        elif column in features.categorical and (
            pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype)
        ):
            kind = "string"
        else:
            kind = AnyType()  # type: ignore[no-untyped-call]
        specs.append(ColSpec(kind, column, required=True))
    return Schema(specs)


def _stage_code(target: Path) -> list[str]:
    """Copy the Python sources the pyfunc runs (its flows modules, models, data) for code_paths."""
    root = Path(__file__).resolve().parents[2]
    for package in CODE_PACKAGES:
        shutil.copytree(
            root / package,
            target / package,
            ignore=lambda _dir, names: [n for n in names if _not_source(Path(_dir) / n)],
        )
    (target / "flows" / "store").mkdir(parents=True)
    for name in PYFUNC_FLOWS_FILES:
        shutil.copy2(root / name, target / name)
    return [str(target / name) for name in (*CODE_PACKAGES, "flows")]


def _not_source(path: Path) -> bool:
    return path.name == "__pycache__" or (path.is_file() and path.suffix != ".py")


def pinned_requirements() -> list[str]:
    return [f"{name}=={metadata.version(name).split('+')[0]}" for name in REQUIREMENTS]


@dataclass(frozen=True)
class LoggedModelRef:
    """A model logged under a run: its MLflow 3 model id, where it lies, its files' SHA-256."""

    model_id: str
    run_id: str
    artifact_location: str
    sha256: Mapping[str, str] = field(default_factory=dict)  # artifact file name -> hex digest

    @property
    def uri(self) -> str:
        return f"models:/{self.model_id}"


def log_model(
    client: MlflowClient,
    run_id: str,
    scorer: Scorer,
    input_example: pd.DataFrame,
    *,
    name: str = "model",
    params: dict[str, Any] | None = None,
) -> LoggedModelRef:
    """Log the model under ``run_id`` through the client (no fluent active run, thread-safe)."""
    experiment_id = client.get_run(run_id).info.experiment_id
    model = client.create_logged_model(
        experiment_id,
        name=name,
        source_run_id=run_id,
        params={k: str(v) for k, v in (params or {}).items()},
        model_type="driftune-bn-softmax",
    )
    try:
        with tempfile.TemporaryDirectory(prefix="driftune-log-") as folder:
            local = Path(folder) / "model"
            save_model(local, scorer, input_example)
            sha256 = model_files.artifact_hashes(local / "artifacts")
            client.log_model_artifacts(model.model_id, str(local))
        client.log_outputs(run_id, [LoggedModelOutput(model.model_id, step=0)])
    except BaseException:
        client.finalize_logged_model(model.model_id, LoggedModelStatus.FAILED)
        raise
    client.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    return LoggedModelRef(model.model_id, run_id, str(model.artifact_location), sha256)


def load_scorer(
    client: MlflowClient, artifact_uri: str, sha256: Mapping[str, str], what: str
) -> Scorer:
    """The model at ``artifact_uri`` read as data; ``what`` names it in every refusal.

    Only the artifact files are downloaded (never MLmodel, driftune_model.py or code/), each is
    checked against the SHA-256 recorded at registration before it is parsed, and they are read
    by the installed driftune code. The contract is read when its SHA-256 was recorded (every
    version registered since contracts); an older version loads without one.
    """
    missing = [name for name in ARTIFACT_FILES if name not in sha256]
    if PREPROCESSOR_FILE in missing and LEGACY_PREPROCESSOR_FILE in sha256:
        raise ModelLoadError(
            f"{what} stores its preprocessor as {LEGACY_PREPROCESSOR_FILE}, a format this "
            f"driftune no longer reads (it now writes {PREPROCESSOR_FILE}): run `driftune tune` "
            "to train a version in the current format, then promote it"
        )
    if missing:
        raise ModelLoadError(
            f"{what} has no recorded SHA-256 of {', '.join(missing)} (it was registered before "
            "driftune recorded them), so it cannot be verified: review it, then record them "
            "with `driftune trust VERSION --reason ...`"
        )
    with tempfile.TemporaryDirectory(prefix="driftune-load-") as folder:
        paths = download_artifact_files(client, artifact_uri, Path(folder), what)
        if CONTRACT_FILE in sha256:
            paths[CONTRACT_FILE] = _download(
                client, artifact_uri, CONTRACT_FILE, Path(folder), what
            )
        try:
            model_files.verify_hashes(paths, sha256)
            return Scorer.load(paths)
        except ModelLoadError as error:
            raise ModelLoadError(f"{what}: {error}; nothing was loaded") from None


def download_artifact_files(
    client: MlflowClient, artifact_uri: str, folder: Path, what: str
) -> dict[str, Path]:
    """The model's three data files, and nothing else of it, downloaded into ``folder``."""
    forbid_pickle_models()
    return {name: _download(client, artifact_uri, name, folder, what) for name in ARTIFACT_FILES}


def _download(client: MlflowClient, artifact_uri: str, name: str, folder: Path, what: str) -> Path:
    uri = f"{artifact_uri.rstrip('/')}/artifacts/{name}"
    try:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=uri, dst_path=str(folder), tracking_uri=client.tracking_uri
        )
    except (MlflowException, OSError) as error:
        raise ModelLoadError(f"{what}: cannot read {uri}: {first_line(error)}") from None
    return Path(local)


def forbid_pickle_models() -> None:
    """Turn MLflow's cloudpickle deserialization off in this process (MLflow allows it)."""
    os.environ[PICKLE_SETTING] = "false"
