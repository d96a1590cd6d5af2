"""The champion's data contract: what each feature held when it was fitted, and inputs held to it.

A fitted encoding knows its categories as the Python values it was fitted on: a code read from
Parquet as the text ``"21"`` and the same code read from CSV as the integer ``21`` are different
labels, and an input whose reader chose the other type would encode every category as unknown
without a word. The contract records, per feature, its kind, its dtype, the kind of value its
categories are (text, number, bool), the range of its numbers and whether it had missing values;
``DataContract.conform`` then turns any input into the values the champion learned (``21`` and
``"21"`` are one category), refuses what cannot be turned (a DataError naming file and column),
and counts what the champion never saw (``InputReport``): unseen categories, missing values
where training had none, numbers outside the training range.

Written by hand: the checks are driftune's own (its error hierarchy, the encoding's labels), and
the libraries that validate frames (pandera, great_expectations) check a schema without coercing
values across file formats to a fitted model's labels, and import far more than scoring needs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from data.encoding import FeatureEncoding, Label
from data.errors import DataError, DtypeError, NonFiniteError
from data.schema import FeatureSet

FORMAT = 1
KINDS = ("text", "number", "bool", "mixed")  # what a categorical feature's values are
_KEYS = frozenset({"format", "numeric", "categorical"})
_NUMERIC_KEYS = frozenset({"column", "dtype", "low", "high", "missing"})
_CATEGORICAL_KEYS = frozenset({"column", "dtype", "kind", "values", "missing"})
EXAMPLES = 3  # unseen values quoted per column
_TRUE, _FALSE = frozenset({"true", "1"}), frozenset({"false", "0"})


class StrictInputError(DataError):
    """``--strict``: the input holds values outside the champion's data contract."""


@dataclass(frozen=True)
class NumericField:
    """A numeric feature: its dtype, the range it spanned, whether it had missing values."""

    column: str
    dtype: str
    low: float
    high: float
    missing: bool


@dataclass(frozen=True)
class CategoricalField:
    """A categorical feature: its dtype, what its values are, the values it learned."""

    column: str
    dtype: str
    kind: str
    values: tuple[Label, ...]
    missing: bool


@dataclass(frozen=True)
class ColumnFindings:
    """What one column of an input held that the champion never saw."""

    unseen: int = 0
    missing: int = 0
    below: int = 0
    above: int = 0
    examples: tuple[Label, ...] = ()

    @property
    def total(self) -> int:
        return self.unseen + self.missing + self.below + self.above

    def merged(self, other: ColumnFindings) -> ColumnFindings:
        examples = tuple(dict.fromkeys(self.examples + other.examples))[:EXAMPLES]
        return ColumnFindings(
            self.unseen + other.unseen,
            self.missing + other.missing,
            self.below + other.below,
            self.above + other.above,
            examples,
        )


@dataclass(frozen=True)
class InputReport:
    """Per column, the input's values outside the contract; ``rows`` the rows looked at."""

    rows: int = 0
    columns: Mapping[str, ColumnFindings] = field(default_factory=dict)
    ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return not any(findings.total for findings in self.columns.values())

    def merged(self, other: InputReport) -> InputReport:
        columns = dict(self.columns)
        for name, findings in other.columns.items():
            columns[name] = columns[name].merged(findings) if name in columns else findings
        return InputReport(self.rows + other.rows, columns, {**self.ranges, **other.ranges})

    def findings(self) -> list[str]:
        """One phrase per column with findings: ``column 'c': 3 unseen categories (e.g. 'x')``."""
        return [
            f"column {name!r}: {self._phrase(name, found)}"
            for name, found in self.columns.items()
            if found.total
        ]

    def _phrase(self, name: str, found: ColumnFindings) -> str:
        parts = []
        if found.unseen:
            examples = ", ".join(repr(value) for value in found.examples)
            parts.append(f"{found.unseen} value(s) the champion never saw (e.g. {examples})")
        if found.missing:
            parts.append(f"{found.missing} missing value(s), where training had none")
        if found.below or found.above:
            low, high = self.ranges[name]
            parts.append(
                f"{found.below + found.above} number(s) outside the training range "
                f"[{low:g}, {high:g}] ({found.below} below, {found.above} above)"
            )
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "clean": self.clean,
            "columns": {
                name: {
                    "unseen": found.unseen,
                    "missing": found.missing,
                    "below_range": found.below,
                    "above_range": found.above,
                    "unseen_examples": list(found.examples),
                }
                for name, found in self.columns.items()
                if found.total
            },
        }

    def refuse(self, source: str | Path) -> None:
        """``--strict``: one line naming the file and the first column outside the contract."""
        lines = self.findings()
        if not lines:
            return
        first = next(name for name, found in self.columns.items() if found.total)
        others = f" (and {len(lines) - 1} more column(s))" if len(lines) > 1 else ""
        problem = lines[0].split(": ", 1)[1]
        raise StrictInputError(
            f"{problem}{others}: --strict refuses values outside the champion's data contract",
            path=source,
            column=first,
        )


@dataclass(frozen=True)
class DataContract:
    """The features a champion was fitted on, as they were: numeric fields, then categorical."""

    numeric: tuple[NumericField, ...]
    categorical: tuple[CategoricalField, ...]

    @property
    def features(self) -> FeatureSet:
        return FeatureSet(
            tuple(f.column for f in self.numeric), tuple(f.column for f in self.categorical)
        )

    @classmethod
    def learn(cls, frame: pd.DataFrame, encoding: FeatureEncoding) -> DataContract:
        """The contract of ``encoding`` as fitted on ``frame`` (the very rows it was fitted on)."""
        numeric = []
        for column in encoding.numeric:
            values = pd.to_numeric(frame[column.column], errors="coerce").astype(float)
            present = values.dropna()
            numeric.append(
                NumericField(
                    column.column,
                    str(frame[column.column].dtype),
                    float(present.min()) if len(present) else 0.0,
                    float(present.max()) if len(present) else 0.0,
                    bool(values.isna().any()),
                )
            )
        categorical = [
            CategoricalField(
                column.column,
                str(frame[column.column].dtype),
                kind_of(column.categories),
                column.categories,
                bool(frame[column.column].isna().any()),
            )
            for column in encoding.categorical
        ]
        return cls(tuple(numeric), tuple(categorical))

    def conform(
        self, frame: pd.DataFrame, *, source: str | Path, first_row: int = 1
    ) -> tuple[pd.DataFrame, InputReport]:
        """The frame's features as the champion learned them, and what it never saw.

        ``first_row`` is the data row number of the frame's first row (a chunk of a file), so a
        refusal names the row in the file. Other columns are left out.
        """
        out: dict[str, Any] = {}
        findings: dict[str, ColumnFindings] = {}
        for numeric in self.numeric:
            out[numeric.column], findings[numeric.column] = _numeric(
                frame[numeric.column], numeric, source, first_row
            )
        for categorical in self.categorical:
            out[categorical.column], findings[categorical.column] = _categorical(
                frame[categorical.column], categorical, source, first_row
            )
        ranges = {f.column: (f.low, f.high) for f in self.numeric}
        return pd.DataFrame(out, index=frame.index), InputReport(len(frame), findings, ranges)

    def matches(self, encoding: FeatureEncoding) -> bool:
        """Same columns, in the same order, and the same categories as the encoding."""
        return tuple(f.column for f in self.numeric) == tuple(
            c.column for c in encoding.numeric
        ) and [(f.column, f.values) for f in self.categorical] == [
            (c.column, c.categories) for c in encoding.categorical
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "numeric": [vars(f) for f in self.numeric],
            "categorical": [{**vars(f), "values": list(f.values)} for f in self.categorical],
        }

    @classmethod
    def from_dict(cls, data: Any, *, max_categories: int = 100_000) -> DataContract:
        """Strictly: exact keys, each of its type; a ValueError names what is off."""
        raw = _exact(data, _KEYS, "the top level")
        if raw["format"] != FORMAT:
            raise ValueError(f"format {raw['format']!r:.20} is not {FORMAT}, the one this reads")
        numeric = tuple(_read_numeric(item) for item in _listed(raw["numeric"], "numeric"))
        categorical = tuple(
            _read_categorical(item, max_categories)
            for item in _listed(raw["categorical"], "categorical")
        )
        return cls(numeric, categorical)


def kind_of(values: Sequence[Label]) -> str:
    """What a categorical feature's learned values are: text, number, bool, or a mix."""
    kinds = {
        "bool" if isinstance(v, bool) else "text" if isinstance(v, str) else "number"
        for v in values
    }
    return kinds.pop() if len(kinds) == 1 else "mixed"


def _numeric(
    series: pd.Series, contract: NumericField, source: str | Path, first_row: int
) -> tuple[pd.Series, ColumnFindings]:
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
        values = series.astype(float)
    else:  # text from a file that stores numbers as text: numbers if every value is one
        values = pd.to_numeric(series, errors="coerce").astype(float)
        bad = np.flatnonzero((values.isna() & series.notna()).to_numpy())
        if len(bad):
            raise DtypeError(
                f"expected a numeric column but it holds text (e.g. "
                f"{series.iloc[bad[0]]!r} in data row {first_row + bad[0]})",
                path=source,
                column=contract.column,
            )
    numbers = values.to_numpy()
    infinite = np.flatnonzero(np.isinf(numbers))
    if len(infinite):
        raise NonFiniteError(
            f"{len(infinite)} infinite value(s), e.g. {numbers[infinite[0]]} in data row "
            f"{first_row + infinite[0]}: use a number, or leave the cell empty for a missing value",
            path=source,
            column=contract.column,
        )
    missing = 0 if contract.missing else int(np.isnan(numbers).sum())
    below, above = int((numbers < contract.low).sum()), int((numbers > contract.high).sum())
    return values, ColumnFindings(missing=missing, below=below, above=above)


def _categorical(
    series: pd.Series, contract: CategoricalField, source: str | Path, first_row: int
) -> tuple[pd.Series, ColumnFindings]:
    """Each distinct value coerced once to the kind the champion learned, then mapped."""
    present = series.notna().to_numpy()
    distinct = pd.unique(series[present].astype(object))
    learned = _learned(contract)
    mapping: dict[Any, Any] = {}
    for value in distinct:
        coerced = _coerce(value, contract.kind)
        if coerced is _REFUSED:
            row = int(np.flatnonzero((series == value).to_numpy())[0])
            raise DtypeError(
                f"the champion learned its categories as {contract.kind} "
                f"(e.g. {contract.values[0]!r}), but {value!r:.50} in data row "
                f"{first_row + row} is not one: fix the value, or retune on data of this kind",
                path=source,
                column=contract.column,
            )
        mapping[value] = learned.get(_key(coerced), coerced)
    unchanged = all(type(new) is type(old) and new == old for old, new in mapping.items())
    values = series if unchanged else series.astype(object).map(mapping)  # most inputs: as read
    known = set(map(_key, contract.values))
    unseen_values = [v for v in mapping.values() if _key(v) not in known]
    unseen = int(values.isin(unseen_values).sum()) if unseen_values else 0
    missing = 0 if contract.missing else int((~present).sum())
    examples = tuple(_plain(v) for v in unseen_values[:EXAMPLES])
    return values, ColumnFindings(unseen=unseen, missing=missing, examples=examples)


_REFUSED = object()


def _coerce(value: Any, kind: str) -> Any:
    """``value`` as the kind of value the champion learned, or _REFUSED when it is not one."""
    value = _plain(value)
    if kind == "text":
        if isinstance(value, float) and value.is_integer():
            return str(int(value))  # a code read as a float (a column with gaps): 21.0 is "21"
        return value if isinstance(value, str) else str(value)
    if kind == "number":
        if isinstance(value, bool):
            return _REFUSED
        if isinstance(value, int | float):
            return value
        try:
            return float(str(value).strip())
        except ValueError:
            return _REFUSED
    if kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower().removesuffix(".0")
        return True if text in _TRUE else False if text in _FALSE else _REFUSED
    return value


def _key(value: Any) -> Any:
    """Numbers compare by value (21 and 21.0 are one code); bools stay apart from 0 and 1."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("number", float(value))
    return ("other", value)


def _learned(contract: CategoricalField) -> dict[Any, Label]:
    return {_key(value): value for value in contract.values}


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _exact(value: Any, keys: frozenset[str], where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be an object")
    unknown, missing = sorted(set(value) - keys), sorted(keys - set(value))
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r:.50} in {where}")
    if missing:
        raise ValueError(f"missing key {missing[0]!r} in {where}")
    return value


def _listed(value: Any, key: str) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"{key} must be a list")
    return value


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= 1000:
        raise ValueError(f"{value!r:.50} is not {what}")
    return value


def _flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{where}: missing must be true or false")
    return value


def _read_numeric(item: Any) -> NumericField:
    raw = _exact(item, _NUMERIC_KEYS, "a numeric field")
    column = _name(raw["column"], "a column name")
    low, high = raw["low"], raw["high"]
    for number in (low, high):
        if type(number) not in (int, float) or not math.isfinite(number):
            raise ValueError(f"numeric field {column!r}: low and high must be finite numbers")
    if low > high:
        raise ValueError(f"numeric field {column!r}: low is above high")
    dtype = _name(raw["dtype"], "a dtype")
    return NumericField(column, dtype, float(low), float(high), _flag(raw["missing"], column))


def _read_categorical(item: Any, max_categories: int) -> CategoricalField:
    raw = _exact(item, _CATEGORICAL_KEYS, "a categorical field")
    column = _name(raw["column"], "a column name")
    if raw["kind"] not in KINDS:
        raise ValueError(f"categorical field {column!r}: kind must be one of {list(KINDS)}")
    values = raw["values"]
    if not isinstance(values, list) or not 0 < len(values) <= max_categories:
        raise ValueError(f"categorical field {column!r}: values must list 1 to {max_categories}")
    for value in values:
        plain = isinstance(value, str | int | bool) or (
            isinstance(value, float) and math.isfinite(value)
        )
        if not plain or (isinstance(value, str) and len(value) >= 1000):
            raise ValueError(f"categorical field {column!r}: {value!r:.50} is not a plain label")
    if kind_of(values) != raw["kind"]:
        raise ValueError(f"categorical field {column!r}: kind {raw['kind']!r} fits no values")
    dtype = _name(raw["dtype"], "a dtype")
    return CategoricalField(
        column, dtype, raw["kind"], tuple(values), _flag(raw["missing"], column)
    )
