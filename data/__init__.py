"""driftune's data core: dataset specs, loading, preprocessing and drift detection.

This package holds code; the shipped demo datasets lie in data/samples/.

Importing the package loads none of its modules: each name below loads its module on first
use, so `from data.errors import ...` (the CLI's first import) does not pull in scipy and
scikit-learn for the drift tests.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from data.drift.detect import detect_drift, performance_drift
    from data.drift.profile import ReferenceProfile
    from data.drift.report import DriftReport, FeatureDrift, PerformanceDrift
    from data.errors import (
        AllMissingError,
        ConfigError,
        DataError,
        DriftuneError,
        DtypeError,
        DuplicateColumnError,
        EmptyDataError,
        MissingColumnError,
        MissingFileError,
        NonFiniteError,
        TimeParseError,
        TooFewClassesError,
        TooFewRowsError,
    )
    from data.lineage import frame_sha256
    from data.loading import Batch, batches, load, read_table
    from data.preprocessing import Split, features_and_labels, make_preprocessor, time_split
    from data.samples import SAMPLES_DIR, sample_path
    from data.schema import DatasetSpec, FeatureSet, check_scoring_frame, resolve_features

_MODULES = {
    "data.drift.detect": ("detect_drift", "performance_drift"),
    "data.drift.report": ("DriftReport", "FeatureDrift", "PerformanceDrift"),
    "data.errors": (
        "AllMissingError",
        "ConfigError",
        "DataError",
        "DriftuneError",
        "DtypeError",
        "DuplicateColumnError",
        "EmptyDataError",
        "MissingColumnError",
        "MissingFileError",
        "NonFiniteError",
        "TimeParseError",
        "TooFewClassesError",
        "TooFewRowsError",
    ),
    "data.lineage": ("frame_sha256",),
    "data.loading": ("Batch", "batches", "load", "read_table"),
    "data.preprocessing": ("Split", "features_and_labels", "make_preprocessor", "time_split"),
    "data.drift.profile": ("ReferenceProfile",),
    "data.samples": ("SAMPLES_DIR", "sample_path"),
    "data.schema": ("DatasetSpec", "FeatureSet", "check_scoring_frame", "resolve_features"),
}
_SOURCE = {name: module for module, names in _MODULES.items() for name in names}


def __getattr__(name: str) -> Any:
    """Load ``name``'s module on first use (PEP 562) and keep the name here."""
    module = _SOURCE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "SAMPLES_DIR",
    "AllMissingError",
    "Batch",
    "ConfigError",
    "DataError",
    "DatasetSpec",
    "DriftReport",
    "DriftuneError",
    "DtypeError",
    "DuplicateColumnError",
    "EmptyDataError",
    "FeatureDrift",
    "FeatureSet",
    "MissingColumnError",
    "MissingFileError",
    "NonFiniteError",
    "PerformanceDrift",
    "ReferenceProfile",
    "Split",
    "TimeParseError",
    "TooFewClassesError",
    "TooFewRowsError",
    "batches",
    "check_scoring_frame",
    "detect_drift",
    "features_and_labels",
    "frame_sha256",
    "load",
    "make_preprocessor",
    "performance_drift",
    "read_table",
    "resolve_features",
    "sample_path",
    "time_split",
]
