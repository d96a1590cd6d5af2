"""driftune's data core: dataset specs, loading, preprocessing and drift detection.

This package holds code; the shipped demo datasets lie in data/samples/.
"""

from data.drift import detect_drift, performance_drift
from data.drift_report import DriftReport, FeatureDrift, PerformanceDrift
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
from data.profile import ReferenceProfile
from data.samples import SAMPLES_DIR, sample_path
from data.schema import DatasetSpec, FeatureSet, check_scoring_frame, resolve_features

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
