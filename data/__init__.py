"""driftune's data core: dataset specs, loading, preprocessing and drift detection.

This package holds code; the shipped demo datasets lie in data/samples/.
"""

from data.errors import (
    AllMissingError,
    ConfigError,
    DataError,
    DriftuneError,
    DtypeError,
    EmptyDataError,
    MissingColumnError,
    MissingFileError,
    TimeParseError,
    TooFewClassesError,
)
from data.lineage import frame_sha256
from data.loading import Batch, batches, load, read_table
from data.preprocessing import Split, features_and_labels, make_preprocessor, time_split
from data.samples import SAMPLES_DIR, sample_path
from data.schema import DatasetSpec, FeatureSet, resolve_features

__all__ = [
    "SAMPLES_DIR",
    "AllMissingError",
    "Batch",
    "ConfigError",
    "DataError",
    "DatasetSpec",
    "DriftuneError",
    "DtypeError",
    "EmptyDataError",
    "FeatureSet",
    "MissingColumnError",
    "MissingFileError",
    "Split",
    "TimeParseError",
    "TooFewClassesError",
    "batches",
    "features_and_labels",
    "frame_sha256",
    "load",
    "make_preprocessor",
    "read_table",
    "resolve_features",
    "sample_path",
    "time_split",
]
