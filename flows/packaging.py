"""The champion as an MLflow pyfunc model: preprocessing and network, loaded without pickle.

``mlflow.pyfunc.load_model(uri).predict(frame)`` takes a raw pandas DataFrame with the original
feature columns (categorical values and missing values included) and returns a DataFrame with a
``prediction`` column (the class label) and one ``proba_<class>`` column per class.

Nothing in the model is a pickle, so loading it cannot run arbitrary code from the artifact store:
- the pyfunc wrapper is logged as code ("models from code"): loading runs this module's
  ``DriftuneModel``, shipped with the model under ``code/`` together with the models and data
  packages it needs;
- the network's weights are a plain state_dict read with ``torch.load(weights_only=True)``, its
  shape and classes a JSON file;
- the fitted ColumnTransformer is a skops file, loaded only when every type it names is either
  one skops trusts by default (scikit-learn, numpy) or in ``TRUSTED_TYPES``.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow.artifacts
import mlflow.pyfunc
import numpy as np
import pandas as pd
import skops.io
import torch
from mlflow import MlflowClient
from mlflow.entities import LoggedModelOutput, LoggedModelStatus
from mlflow.models import ModelSignature, infer_signature
from mlflow.pyfunc import PyFuncModel
from mlflow.pyfunc.model import PythonModel
from mlflow.types.schema import AnyType, ColSpec, Schema
from sklearn.compose import ColumnTransformer

from data.errors import DriftuneError
from data.schema import FeatureSet
from models.classifier import ACTIVATIONS, BNBlock, BNSoftmaxNet
from models.estimator import BNSoftmaxClassifier

NETWORK_FILE, WEIGHTS_FILE, PREPROCESSOR_FILE = "network.json", "weights.pt", "preprocessor.skops"
TRUSTED_TYPES = frozenset({"data.preprocessing._as_object", "numpy.dtype"})
# Distributions the model needs at load time, pinned to the versions that saved it. Listing them
# spares MLflow's requirement inference, which loads the model in a subprocess (about 6 s).
REQUIREMENTS = ("mlflow", "torch", "scikit-learn", "pandas", "numpy", "scipy", "skops")
CODE_PACKAGES = ("models", "data")
ENTRY_POINT = '''"""driftune's pyfunc entry point: MLflow runs this file to build the model."""
from mlflow.models import set_model

from flows.packaging import DriftuneModel

set_model(DriftuneModel())
'''


class ModelLoadError(DriftuneError):
    """A logged model that cannot be loaded safely or completely."""


@dataclass(frozen=True)
class Scorer:
    """A fitted preprocessor, the network and its classes: raw frame in, labels and proba out."""

    preprocessor: ColumnTransformer
    network: BNSoftmaxNet
    classes: tuple[Any, ...]
    features: FeatureSet

    def score(self, frame: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in self.features.all if c not in frame.columns]
        if missing:
            raise ModelLoadError(f"the input lacks the model's feature columns {missing}")
        X = np.asarray(self.preprocessor.transform(frame[list(self.features.all)]), np.float32)
        self.network.eval()
        with torch.inference_mode():
            proba = torch.softmax(self.network(torch.from_numpy(X)).double(), dim=1).numpy()
        labels = np.asarray(self.classes, dtype=object)[np.argmax(proba, axis=1)]
        prediction = pd.Series(labels, index=frame.index).infer_objects()
        out = pd.DataFrame({"prediction": prediction}, index=frame.index)
        for position, label in enumerate(self.classes):
            out[f"proba_{label}"] = proba[:, position]
        return out

    @classmethod
    def from_estimator(
        cls, estimator: BNSoftmaxClassifier, preprocessor: ColumnTransformer, features: FeatureSet
    ) -> Scorer:
        classes = tuple(np.asarray(estimator.classes_).tolist())
        return cls(preprocessor, estimator.model_, classes, features)

    def save(self, folder: Path) -> dict[str, str]:
        """Write the three artifact files; returns MLflow's artifacts mapping."""
        network = {
            "architecture": _architecture(self.network),
            "classes": list(self.classes),
            "numeric": list(self.features.numeric),
            "categorical": list(self.features.categorical),
        }
        paths = {name: folder / name for name in (NETWORK_FILE, WEIGHTS_FILE, PREPROCESSOR_FILE)}
        paths[NETWORK_FILE].write_text(json.dumps(network, indent=2))
        torch.save(self.network.state_dict(), paths[WEIGHTS_FILE])
        skops.io.dump(self.preprocessor, paths[PREPROCESSOR_FILE])
        return {name: str(path) for name, path in paths.items()}

    @classmethod
    def load(cls, artifacts: dict[str, str]) -> Scorer:
        spec = json.loads(Path(artifacts[NETWORK_FILE]).read_text())
        network = BNSoftmaxNet(**spec["architecture"])
        state = torch.load(artifacts[WEIGHTS_FILE], weights_only=True)
        network.load_state_dict(state)
        network.eval()
        untrusted = set(skops.io.get_untrusted_types(file=artifacts[PREPROCESSOR_FILE]))
        if untrusted - TRUSTED_TYPES:
            raise ModelLoadError(
                f"the preprocessor names types driftune does not trust: {sorted(untrusted)}"
            )
        preprocessor = skops.io.load(artifacts[PREPROCESSOR_FILE], trusted=sorted(untrusted))
        features = FeatureSet(tuple(spec["numeric"]), tuple(spec["categorical"]))
        return cls(preprocessor, network, tuple(spec["classes"]), features)


def _architecture(network: BNSoftmaxNet) -> dict[str, Any]:
    blocks = [block for block in network.hidden if isinstance(block, BNBlock)]
    first = blocks[0] if blocks else None
    return {
        "n_features": first.linear.in_features if first else network.output.in_features,
        "n_classes": network.output.out_features,
        "n_layers": len(blocks),
        "hidden_units": first.linear.out_features if first else 0,
        "activation": _activation_name(first.activation) if first else "relu",
        "bn_momentum": first.bn.momentum if first else 0.1,
        "eps": first.bn.eps if first else 1e-5,
    }


def _activation_name(module: torch.nn.Module) -> str:
    return next(name for name, kind in ACTIVATIONS.items() if type(module) is kind)


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
    """Copy the Python sources the model runs (flows.packaging, models, data) for code_paths."""
    root = Path(__file__).resolve().parent.parent
    for package in CODE_PACKAGES:
        shutil.copytree(
            root / package,
            target / package,
            ignore=lambda _dir, names: [n for n in names if _not_source(Path(_dir) / n)],
        )
    (target / "flows").mkdir()
    for name in ("__init__.py", "packaging.py"):
        shutil.copy2(root / "flows" / name, target / "flows" / name)
    return [str(target / name) for name in (*CODE_PACKAGES, "flows")]


def _not_source(path: Path) -> bool:
    return path.name == "__pycache__" or (path.is_file() and path.suffix != ".py")


def pinned_requirements() -> list[str]:
    return [f"{name}=={metadata.version(name).split('+')[0]}" for name in REQUIREMENTS]


@dataclass(frozen=True)
class LoggedModelRef:
    """A model logged under a run: its MLflow 3 model id and the URI that loads it."""

    model_id: str
    run_id: str
    artifact_location: str

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
            save_model(Path(folder) / "model", scorer, input_example)
            client.log_model_artifacts(model.model_id, str(Path(folder) / "model"))
        client.log_outputs(run_id, [LoggedModelOutput(model.model_id, step=0)])
    except BaseException:
        client.finalize_logged_model(model.model_id, LoggedModelStatus.FAILED)
        raise
    client.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    return LoggedModelRef(model.model_id, run_id, str(model.artifact_location))


def load_model(client: MlflowClient, artifact_uri: str) -> PyFuncModel:
    """Download a model's artifacts through the client's store and load them as a pyfunc."""
    with tempfile.TemporaryDirectory(prefix="driftune-load-") as folder:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=artifact_uri, dst_path=folder, tracking_uri=client.tracking_uri
        )
        # load_context reads every artifact into memory, so the folder may go afterwards.
        model: PyFuncModel = mlflow.pyfunc.load_model(local)
        # MLflow prepended the model's code/ folder to sys.path; in this process flows, models
        # and data are imported already, so drop the entry rather than leave one per load.
        code = str(Path(local) / "code")
        sys.path[:] = [entry for entry in sys.path if entry != code]
        return model
