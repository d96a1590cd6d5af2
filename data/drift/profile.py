"""ReferenceProfile: what a drift check needs from the reference table, and nothing more.

A scheduled check compares each new batch with the champion's training data. Reloading that table
every hour is what makes other tools slow and memory-hungry; a profile keeps a seeded sample of each
numeric feature (already sorted), the PSI bin edges, category and label counts, missing counts and
a few thousand whole rows for the domain classifier, and round-trips through JSON. A check against
the profile gives the same report as a check against the frame it came from, because
``detect_drift`` builds exactly this profile from a reference frame.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from data.drift.columns import (
    category_strings,
    check_side,
    infer_features,
    numeric_values,
    sample_positions,
)
from data.drift.stats import FloatArray, decile_edges
from data.errors import DataError, MissingColumnError
from data.schema import DatasetSpec, FeatureSet

# Enough values that KS detects any shift worth acting on (its 5% critical distance at 50,000 a
# side is 0.009), few enough that a check of a huge batch stays fast and the profile stays small.
DEFAULT_MAX_ROWS = 50_000
DEFAULT_DOMAIN_ROWS = 2_000
REFERENCE_STREAM = 0
CURRENT_STREAM = 1
FORMAT = "driftune.reference-profile"
VERSION = 1


@dataclass(frozen=True, eq=False)
class NumericProfile:
    """A numeric feature's sampled values (finite, sorted), PSI bin edges and missing count."""

    values: FloatArray
    edges: FloatArray
    n_missing: int


@dataclass(frozen=True)
class CategoricalProfile:
    """A categorical feature's counts by category (as text) and its missing count."""

    counts: Mapping[str, int]
    n_missing: int


@dataclass(frozen=True, eq=False)
class ReferenceProfile:
    """Summaries of one side of a drift check; build with ``ReferenceProfile.from_frame``."""

    numeric: Mapping[str, NumericProfile]
    categorical: Mapping[str, CategoricalProfile]
    domain_rows: pd.DataFrame
    n_rows: int
    n_sampled: int
    dtypes: Mapping[str, str]
    seed: int
    max_rows: int | None
    label: str | None = None
    label_counts: Mapping[str, int] | None = field(default=None)

    @property
    def features(self) -> FeatureSet:
        return FeatureSet(numeric=tuple(self.numeric), categorical=tuple(self.categorical))

    @property
    def subsampled(self) -> bool:
        return self.n_sampled < self.n_rows

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        spec: DatasetSpec | None = None,
        *,
        features: FeatureSet | Sequence[str] | None = None,
        label: str | None = None,
        seed: int = 0,
        max_rows: int | None = DEFAULT_MAX_ROWS,
        domain_rows: int = DEFAULT_DOMAIN_ROWS,
    ) -> ReferenceProfile:
        """Profile a reference table; the spec (or ``features`` / ``label``) names the columns.

        Above ``max_rows`` rows a seeded sample of rows is kept (None keeps every row).
        """
        label = label if label is not None else (spec.label if spec is not None else None)
        feature_set = infer_features(frame, features, label, spec)
        return summarise(
            frame,
            feature_set,
            label,
            side="reference",
            rng=np.random.default_rng([seed, REFERENCE_STREAM]),
            seed=seed,
            max_rows=max_rows,
            domain_rows=domain_rows,
        )

    def restrict(self, names: Sequence[str]) -> ReferenceProfile:
        """The same profile over fewer features."""
        for name in names:
            if name not in self.numeric and name not in self.categorical:
                raise MissingColumnError("the feature is not in the reference profile", column=name)
        keep = [c for c in self.domain_rows.columns if c in names]
        return replace(
            self,
            numeric={k: v for k, v in self.numeric.items() if k in names},
            categorical={k: v for k, v in self.categorical.items() if k in names},
            domain_rows=self.domain_rows[keep],
        )

    def to_json(self) -> str:
        """JSON text; arrays travel as base64 float64 so the round trip is exact."""
        numeric_rows = {n: _pack(self.domain_rows[n].to_numpy(np.float64)) for n in self.numeric}
        payload = {
            "format": FORMAT,
            "version": VERSION,
            "n_rows": self.n_rows,
            "n_sampled": self.n_sampled,
            "seed": self.seed,
            "max_rows": self.max_rows,
            "label": self.label,
            "label_counts": self.label_counts,
            "dtypes": dict(self.dtypes),
            "numeric": {
                name: {"values": _pack(p.values), "edges": _pack(p.edges), "missing": p.n_missing}
                for name, p in self.numeric.items()
            },
            "categorical": {
                name: {"counts": dict(p.counts), "missing": p.n_missing}
                for name, p in self.categorical.items()
            },
            "domain_rows": {
                "numeric": numeric_rows,
                "categorical": {n: _texts(self.domain_rows[n]) for n in self.categorical},
            },
        }
        return json.dumps(payload, allow_nan=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> ReferenceProfile:
        """Read a profile written by ``to_json``; a DataError when the text is not one."""
        try:
            payload = json.loads(text)
            if payload.get("format") != FORMAT or payload.get("version") != VERSION:
                raise ValueError(f"format {payload.get('format')!r} v{payload.get('version')}")
            return _from_payload(payload)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise DataError(f"not a driftune reference profile ({error})") from error


def summarise(
    frame: pd.DataFrame,
    features: FeatureSet,
    label: str | None,
    *,
    side: str,
    rng: np.random.Generator,
    seed: int,
    max_rows: int | None,
    domain_rows: int,
) -> ReferenceProfile:
    """Validate one side of a check and summarise it (the current batch goes through this too)."""
    check_side(frame, features, side)
    rows = sample_positions(len(frame), max_rows, rng)
    numeric: dict[str, NumericProfile] = {}
    for name in features.numeric:
        values = numeric_values(frame[name], side=side, column=name, rows=rows)
        finite = values[np.isfinite(values)]
        finite.sort()
        edges = decile_edges(finite) if len(finite) else np.empty(0)
        numeric[name] = NumericProfile(finite, edges, n_missing=len(values) - len(finite))
    categorical = {}
    for name in features.categorical:
        text = category_strings(frame[name], rows=rows)
        counts = pd.Series(text).value_counts(dropna=True)
        categorical[name] = CategoricalProfile(
            counts={str(k): int(v) for k, v in counts.items()},
            n_missing=int(pd.isna(text).sum()),
        )
    return ReferenceProfile(
        numeric=numeric,
        categorical=categorical,
        domain_rows=_domain_rows(frame, features, rng, domain_rows, side),
        n_rows=len(frame),
        n_sampled=len(frame) if rows is None else len(rows),
        dtypes={name: str(frame[name].dtype) for name in features.all},
        seed=seed,
        max_rows=max_rows,
        label=label,
        label_counts=_label_counts(frame, label, rows),
    )


def _domain_rows(
    frame: pd.DataFrame, features: FeatureSet, rng: np.random.Generator, limit: int, side: str
) -> pd.DataFrame:
    rows = sample_positions(len(frame), limit, rng)
    columns: dict[str, Any] = {
        name: numeric_values(frame[name], side=side, column=name, rows=rows)
        for name in features.numeric
    }
    for name in features.categorical:
        columns[name] = category_strings(frame[name], rows=rows)
    return pd.DataFrame(columns, index=pd.RangeIndex(len(frame) if rows is None else len(rows)))


def _label_counts(
    frame: pd.DataFrame, label: str | None, rows: np.ndarray | None
) -> dict[str, int] | None:
    if label is None or label not in frame.columns or frame[label].isna().all():
        return None
    counts = pd.Series(category_strings(frame[label], rows=rows)).value_counts(dropna=True)
    return {str(k): int(v) for k, v in counts.items()}


def _texts(series: pd.Series) -> list[str | None]:
    return [None if pd.isna(v) else str(v) for v in series.tolist()]


def _pack(values: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(values, dtype="<f8").tobytes()).decode("ascii")


def _unpack(text: str) -> FloatArray:
    return np.frombuffer(base64.b64decode(text), dtype="<f8").astype(np.float64)


def _from_payload(payload: dict[str, Any]) -> ReferenceProfile:
    numeric = {
        name: NumericProfile(_unpack(p["values"]), _unpack(p["edges"]), int(p["missing"]))
        for name, p in payload["numeric"].items()
    }
    categorical = {
        name: CategoricalProfile(
            {str(k): int(v) for k, v in p["counts"].items()}, int(p["missing"])
        )
        for name, p in payload["categorical"].items()
    }
    rows = payload["domain_rows"]
    columns: dict[str, Any] = {n: _unpack(v) for n, v in rows["numeric"].items()}
    columns.update({n: np.array(v, dtype=object) for n, v in rows["categorical"].items()})
    label_counts = payload["label_counts"]
    return ReferenceProfile(
        numeric=numeric,
        categorical=categorical,
        domain_rows=pd.DataFrame(columns),
        n_rows=int(payload["n_rows"]),
        n_sampled=int(payload["n_sampled"]),
        dtypes={str(k): str(v) for k, v in payload["dtypes"].items()},
        seed=int(payload["seed"]),
        max_rows=None if payload["max_rows"] is None else int(payload["max_rows"]),
        label=payload["label"],
        label_counts=None
        if label_counts is None
        else {str(k): int(v) for k, v in label_counts.items()},
    )
