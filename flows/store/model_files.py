"""A model's three artifact files read as data, with the installed driftune code, never executed.

- ``network.json`` is parsed strictly: exactly the keys driftune writes, each of its type, every
  size within ``LIMITS`` and the whole network within ``MAX_PARAMETERS``, so a description cannot
  make the loader allocate without bound. A single network is described by ``architecture``; an
  ensemble by ``members``, a list (at most ``MAX_MEMBERS``) of ``{"architecture", "weight"}``,
  its weights positive and summing to one, its members' tensors in ``weights.pt`` under the
  prefix ``<member>.`` and all of them within ``MAX_PARAMETERS`` together;
- ``weights.pt`` is read with ``torch.load(weights_only=True, mmap=True)`` (no pickle code runs;
  the tensors stay in the file until used) and every tensor is compared with the shape and dtype
  the described architecture needs before a network is built from them;
- ``preprocessor.json`` holds the fitted preprocessing as numbers and labels
  (``data.encoding.FeatureEncoding``), parsed strictly: nothing in it names a type to build;
- ``contract.json`` (versions registered since driftune records it) holds the data contract
  (``data.contract.DataContract``: each feature's kind, dtype, learned values and range), parsed
  as strictly and checked against the preprocessor's columns and categories.

Every refusal is a ``ModelLoadError`` naming the file and the key, tensor or type at fault.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from data.contract import DataContract
from data.encoding import FeatureEncoding
from data.errors import DriftuneError
from data.schema import FeatureSet
from models.net import ACTIVATIONS, BNBlock, BNSoftmaxNet

NETWORK_FILE, WEIGHTS_FILE, PREPROCESSOR_FILE = "network.json", "weights.pt", "preprocessor.json"
ARTIFACT_FILES = (NETWORK_FILE, WEIGHTS_FILE, PREPROCESSOR_FILE)
# Written and hashed with the three since data contracts; a version without it still loads.
CONTRACT_FILE = "contract.json"
# Far above any network a search trains (4 x 256 units is ~200 k parameters), far below what
# would exhaust a machine's memory: 100 M float32 parameters are 400 MB.
LIMITS = {
    "n_features": (1, 100_000),
    "n_classes": (2, 10_000),
    "n_layers": (0, 64),
    "hidden_units": (0, 65_536),
}
MAX_PARAMETERS = 100_000_000
MAX_MEMBERS = 64  # an ensemble selection of 20 steps has at most 20 members
MAX_DESCRIPTION_BYTES = 1_000_000
MAX_ENCODING_BYTES = 64_000_000  # up to 100,000 categories in each of many columns
MAX_NAME_LENGTH = 1_000
_DESCRIPTION_KEYS = frozenset({"architecture", "classes", "numeric", "categorical"})
_ENSEMBLE_KEYS = frozenset({"members", "classes", "numeric", "categorical"})
_MEMBER_KEYS = frozenset({"architecture", "weight"})
_ARCHITECTURE_KEYS = frozenset({*LIMITS, "activation", "bn_momentum", "eps"})


class ModelLoadError(DriftuneError):
    """A logged model that cannot be loaded safely or completely."""


@dataclass(frozen=True)
class NetworkSpec:
    """A checked description: each member's BNSoftmaxNet arguments and weight (one member for
    a single network), the classes, the features."""

    architectures: tuple[Mapping[str, Any], ...]
    weights: tuple[float, ...]
    classes: tuple[Any, ...]
    features: FeatureSet


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def artifact_hashes(folder: Path) -> dict[str, str]:
    """The SHA-256 of each artifact file in ``folder`` (the contract too, when it is there)."""
    names = list(ARTIFACT_FILES)
    if (folder / CONTRACT_FILE).exists():
        names.append(CONTRACT_FILE)
    return {name: sha256_of(folder / name) for name in names}


def verify_hashes(paths: Mapping[str, Path], expected: Mapping[str, str]) -> None:
    """Refuse the first artifact whose bytes are not the ones recorded at registration."""
    for name in paths:
        path, recorded = paths[name], expected[name]
        found = sha256_of(path) if path.is_file() else "not a file"
        if found != recorded:
            raise ModelLoadError(
                f"{name} does not match the SHA-256 recorded at registration (recorded "
                f"{recorded[:16]}, found {found[:16]}): the artifact store was changed"
            )


def read_network(path: Path) -> NetworkSpec:
    """Parse ``network.json`` strictly; refuse anything driftune would not have written."""
    size = path.stat().st_size
    if size > MAX_DESCRIPTION_BYTES:
        raise ModelLoadError(f"{NETWORK_FILE} is {size} bytes, more than a description needs")
    try:
        raw = json.loads(path.read_bytes())
    except (ValueError, RecursionError) as error:
        raise ModelLoadError(f"{NETWORK_FILE} is not valid JSON: {first_line(error)}") from None
    ensemble = isinstance(raw, dict) and "members" in raw
    description = _exact_keys(raw, _ENSEMBLE_KEYS if ensemble else _DESCRIPTION_KEYS, "")
    if ensemble:
        architectures, weights = _members(description["members"])
    else:
        single = _exact_keys(description["architecture"], _ARCHITECTURE_KEYS)
        architectures = (_architecture(single),)
        weights = (1.0,)
    _within_parameter_limit(architectures)
    n_classes = {architecture["n_classes"] for architecture in architectures}
    if len(n_classes) != 1:
        raise ModelLoadError(f"{NETWORK_FILE}: the members disagree on n_classes")
    classes = _labels(description["classes"], architectures[0]["n_classes"])
    numeric = _names(description["numeric"], "numeric")
    categorical = _names(description["categorical"], "categorical")
    if set(numeric) & set(categorical) or not numeric + categorical:
        raise ModelLoadError(f"{NETWORK_FILE}: numeric and categorical must be disjoint, not empty")
    return NetworkSpec(architectures, weights, classes, FeatureSet(numeric, categorical))


def _members(value: Any) -> tuple[tuple[dict[str, Any], ...], tuple[float, ...]]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_MEMBERS:
        raise ModelLoadError(f"{NETWORK_FILE}: members must be a list of 1 to {MAX_MEMBERS}")
    architectures, weights = [], []
    for number, member in enumerate(value):
        where = f"members[{number}]."
        entry = _exact_keys(member, _MEMBER_KEYS, where)
        keys = _exact_keys(entry["architecture"], _ARCHITECTURE_KEYS, f"{where}architecture.")
        architectures.append(_architecture(keys, f"{where}architecture."))
        weights.append(_bounded_float(entry["weight"], "weight", 1.0, where))
    if not math.isclose(sum(weights), 1.0, abs_tol=1e-6):
        raise ModelLoadError(f"{NETWORK_FILE}: the members' weights sum to {sum(weights)}, not 1")
    return tuple(architectures), tuple(weights)


def describe_network(network: BNSoftmaxNet) -> dict[str, Any]:
    """The architecture as network.json records it: BNSoftmaxNet's keyword arguments."""
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


def describe_members(networks: Sequence[BNSoftmaxNet], weights: Sequence[float]) -> dict[str, Any]:
    """network.json's model part: ``architecture`` for one network, ``members`` for several."""
    if len(networks) == 1:
        return {"architecture": describe_network(networks[0])}
    return {
        "members": [
            {"architecture": describe_network(network), "weight": float(weight)}
            for network, weight in zip(networks, weights, strict=True)
        ]
    }


def members_state(networks: Sequence[BNSoftmaxNet]) -> dict[str, torch.Tensor]:
    """weights.pt's content: one state_dict, or every member's under the prefix ``<member>.``."""
    if len(networks) == 1:
        return networks[0].state_dict()  # type: ignore[no-any-return]
    return {
        f"{number}.{key}": tensor
        for number, network in enumerate(networks)
        for key, tensor in network.state_dict().items()
    }


def _activation_name(module: torch.nn.Module) -> str:
    return next(name for name, kind in ACTIVATIONS.items() if type(module) is kind)


def expected_state(architecture: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """The state_dict the architecture needs, as shapes and dtypes only (nothing allocated)."""
    with torch.device("meta"):
        return BNSoftmaxNet(**architecture).state_dict()


def read_weights(
    path: Path, architectures: Sequence[Mapping[str, Any]]
) -> list[dict[str, torch.Tensor]]:
    """Each member's plain state_dict, every tensor of the shape and dtype its architecture
    needs (an ensemble's under the prefix ``<member>.``)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as error:  # weights_only refuses every pickle that is not plain tensors
        raise ModelLoadError(
            f"{WEIGHTS_FILE} is not a plain state_dict of tensors: {first_line(error)}"
        ) from None
    if not isinstance(state, dict) or not all(
        isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in state.items()
    ):
        raise ModelLoadError(f"{WEIGHTS_FILE} is not a mapping of names to tensors")
    prefixes = [""] if len(architectures) == 1 else [f"{n}." for n in range(len(architectures))]
    expected = {
        prefix + key: tensor
        for prefix, architecture in zip(prefixes, architectures, strict=True)
        for key, tensor in expected_state(architecture).items()
    }
    unknown, missing = sorted(set(state) - set(expected)), sorted(set(expected) - set(state))
    if unknown or missing:
        raise ModelLoadError(
            f"{WEIGHTS_FILE} does not fit network.json's architecture: "
            f"unexpected tensors {unknown[:3]}, missing tensors {missing[:3]}"
        )
    for key, want in expected.items():
        got = state[key]
        if got.shape != want.shape or got.dtype != want.dtype:
            raise ModelLoadError(
                f"{WEIGHTS_FILE}: tensor {key!r} is {tuple(got.shape)} {got.dtype}, "
                f"network.json's architecture needs {tuple(want.shape)} {want.dtype}"
            )
    return [
        {key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)}
        if prefix
        else state
        for prefix in prefixes
    ]


def read_encoding(path: Path, features: FeatureSet) -> FeatureEncoding:
    """The fitted preprocessing, for exactly the network's feature columns, in their order."""
    if path.stat().st_size > MAX_ENCODING_BYTES:
        raise ModelLoadError(f"{PREPROCESSOR_FILE} is larger than {MAX_ENCODING_BYTES:,} bytes")
    try:
        encoding = FeatureEncoding.from_dict(json.loads(path.read_text()))
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        raise ModelLoadError(f"{PREPROCESSOR_FILE}: {first_line(error)}") from None
    numeric = tuple(c.column for c in encoding.numeric)
    categorical = tuple(c.column for c in encoding.categorical)
    if (numeric, categorical) != (features.numeric, features.categorical):
        raise ModelLoadError(
            f"{PREPROCESSOR_FILE} encodes the columns {list(numeric + categorical)}, but "
            f"{NETWORK_FILE} names {list(features.all)}"
        )
    return encoding


def read_contract(path: Path, encoding: FeatureEncoding) -> DataContract:
    """The data contract, for exactly the preprocessor's columns and categories."""
    if path.stat().st_size > MAX_ENCODING_BYTES:
        raise ModelLoadError(f"{CONTRACT_FILE} is larger than {MAX_ENCODING_BYTES:,} bytes")
    try:
        contract = DataContract.from_dict(json.loads(path.read_text()))
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        raise ModelLoadError(f"{CONTRACT_FILE}: {first_line(error)}") from None
    if not contract.matches(encoding):
        raise ModelLoadError(
            f"{CONTRACT_FILE} does not describe the columns and categories {PREPROCESSOR_FILE} "
            "encodes"
        )
    return contract


def first_line(error: BaseException) -> str:
    """An error's message cut to its first line: refusals are one line."""
    lines = str(error).strip().splitlines()
    return (lines[0] if lines else type(error).__name__)[:300]


def _exact_keys(value: Any, keys: frozenset[str], where: str = "architecture.") -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ModelLoadError(f"{NETWORK_FILE}: {where or 'the top level '}must be an object")
    unknown, missing = sorted(set(value) - keys), sorted(keys - set(value))
    if unknown:
        raise ModelLoadError(f"{NETWORK_FILE}: unknown key {where}{unknown[0]}")
    if missing:
        raise ModelLoadError(f"{NETWORK_FILE}: missing key {where}{missing[0]}")
    return value


def _architecture(raw: dict[str, Any], where: str = "architecture.") -> dict[str, Any]:
    sizes = {key: _bounded_int(raw[key], key, *LIMITS[key], where) for key in LIMITS}
    if sizes["n_layers"] > 0 and sizes["hidden_units"] < 1:
        raise ModelLoadError(f"{NETWORK_FILE}: {where}hidden_units must be at least 1")
    activation = raw["activation"]
    if not isinstance(activation, str) or activation not in ACTIVATIONS:
        raise ModelLoadError(
            f"{NETWORK_FILE}: {where}activation must be one of {sorted(ACTIVATIONS)}, "
            f"got {activation!r:.50}"
        )
    return {
        **sizes,
        "activation": activation,
        "bn_momentum": _bounded_float(raw["bn_momentum"], "bn_momentum", 1.0, where),
        "eps": _bounded_float(raw["eps"], "eps", 0.1, where),
    }


def _within_parameter_limit(architectures: Sequence[Mapping[str, Any]]) -> None:
    n_parameters = sum(
        tensor.numel()
        for architecture in architectures
        for tensor in expected_state(architecture).values()
    )
    if n_parameters > MAX_PARAMETERS:
        raise ModelLoadError(
            f"{NETWORK_FILE}: architecture.n_layers and .hidden_units make {n_parameters:,} "
            f"parameters, more than the {MAX_PARAMETERS:,} driftune loads"
        )


def _bounded_int(value: Any, key: str, low: int, high: int, where: str = "architecture.") -> int:
    if type(value) is not int or not low <= value <= high:
        raise ModelLoadError(
            f"{NETWORK_FILE}: {where}{key} must be an integer in [{low}, {high}], got {value!r:.50}"
        )
    return value


def _bounded_float(value: Any, key: str, high: float, where: str = "architecture.") -> float:
    if type(value) not in (int, float) or not 0 < value <= high:
        raise ModelLoadError(
            f"{NETWORK_FILE}: {where}{key} must be a number in (0, {high}], got {value!r:.50}"
        )
    return float(value)


def _labels(value: Any, n_classes: int) -> tuple[Any, ...]:
    if not isinstance(value, list) or len(value) != n_classes:
        raise ModelLoadError(f"{NETWORK_FILE}: classes must be a list of n_classes={n_classes}")
    for label in value:
        plain = isinstance(label, int | str) or (isinstance(label, float) and math.isfinite(label))
        if not plain or (isinstance(label, str) and len(label) > MAX_NAME_LENGTH):
            raise ModelLoadError(f"{NETWORK_FILE}: classes holds {label!r:.50}, not a label")
    if len(set(value)) != len(value):
        raise ModelLoadError(f"{NETWORK_FILE}: classes repeats a label")
    return tuple(value)


def _names(value: Any, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > LIMITS["n_features"][1]:
        raise ModelLoadError(f"{NETWORK_FILE}: {key} must be a list of column names")
    for name in value:
        if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME_LENGTH:
            raise ModelLoadError(f"{NETWORK_FILE}: {key} holds {name!r:.50}, not a column name")
    if len(set(value)) != len(value):
        raise ModelLoadError(f"{NETWORK_FILE}: {key} repeats a column name")
    return tuple(value)
