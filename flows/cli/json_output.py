"""`--json`: a command's outcome as one JSON document, for scripts.

The flows return plain dicts holding numpy scalars, dataclasses (audit records, the status) and
drift reports; ``to_json`` turns each into what JSON holds. Floats that are not finite become
null, since JSON has no NaN.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def to_json(document: Any) -> str:
    return json.dumps(_plain(document), indent=2, allow_nan=False)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(item) for item in value]
    if hasattr(value, "to_dict"):  # a drift report: its own JSON form
        return _plain(value.to_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    if hasattr(value, "item") and callable(value.item):  # a numpy scalar
        return _plain(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Path):
        return str(value)
    return str(value)
