"""Hyperparameter distributions, each sampled on its own scale.

Every distribution maps its values to and from the unit interval of its own scale (log for a
learning rate alpha, log of 1 - beta for a momentum beta, exponents for a power of two), samples by
drawing uniforms from an explicit ``numpy.random.Generator`` and mapping them back, refuses bad
bounds at construction, and round-trips through ``to_dict()`` / ``Distribution.from_dict()``.
``narrow`` gives the child distribution a coarse-to-fine zoom samples from next. This module
holds the base and the continuous distributions; ``models.search.discrete`` the finite ones.
"""

from __future__ import annotations

import math
import operator
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np

Value = float | int | str | bool


class Distribution(ABC):
    """One hyperparameter's distribution; subclasses are frozen dataclasses."""

    kind: ClassVar[str]
    _kinds: ClassVar[dict[str, type[Distribution]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        kind = cls.__dict__.get("kind")
        if isinstance(kind, str):  # a concrete distribution: from_dict can rebuild it
            Distribution._kinds[kind] = cls
            # The README writes the class name (``type: LogUniform``); both spellings read back
            # as the same distribution, and ``to_dict`` writes the snake-case kind.
            Distribution._kinds[cls.__name__] = cls

    @abstractmethod
    def from_unit(self, u: float) -> Any:
        """The value at position ``u`` in [0, 1] of this distribution's own scale."""

    @abstractmethod
    def to_unit(self, value: Any) -> float:
        """The position in [0, 1] of ``value`` on this distribution's own scale."""

    @abstractmethod
    def contains(self, value: Any) -> bool:
        """Whether ``value`` is one this distribution can produce."""

    @abstractmethod
    def narrow(self, values: Sequence[Any], margin: float, min_width: float) -> Distribution:
        """A child around ``values`` (the best trials'), never wider than this distribution.

        ``margin`` widens the span of ``values`` on each side and ``min_width`` is the child's
        smallest width, both as fractions of this distribution's width on its own scale.
        """

    @abstractmethod
    def edges(self) -> tuple[Any, ...]:
        """The values whose validity vouches for every value: the bounds, or every option."""

    @abstractmethod
    def nearest(self, value: Any) -> Any | None:
        """The value this distribution can produce that is closest to ``value`` on its own
        scale (a number clipped into the bounds), or None when there is none (text for a
        number, a choice not offered)."""

    def sample(self, rng: np.random.Generator, n: int) -> list[Any]:
        """``n`` independent values as plain Python types."""
        return [self.from_unit(float(u)) for u in rng.random(n)]

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, **asdict(self)}  # type: ignore[call-overload]

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> Distribution:
        """Rebuild any distribution from its ``to_dict()``; numbers written as text are read."""
        fields = dict(data)
        kind = fields.pop("type", None)
        cls = Distribution._kinds.get(str(kind))
        if cls is None:
            known = ", ".join(f"{c.__name__} ({c.kind})" for c in Distribution.kinds())
            raise ValueError(f"unknown distribution type {kind!r}; known: {known}")
        if cls.kind != "choice":
            # PyYAML reads 1e-4 (no dot) as text: accept it, since people write bounds that way.
            fields = {k: _number(v, k) for k, v in fields.items()}
        try:
            return cls(**fields)
        except TypeError as error:
            raise ValueError(f"bad fields for a {kind} distribution: {error}") from error

    @staticmethod
    def kinds() -> list[type[Distribution]]:
        """Every concrete distribution class, once each, in the order they were defined."""
        return list(dict.fromkeys(Distribution._kinds.values()))


def _number(value: Any, name: str) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {value!r}") from None


def zoom_window(
    points: Sequence[float], bounds: tuple[float, float], margin: float, min_width: float
) -> tuple[float, float]:
    """[min - margin, max + margin] of ``points``, at least ``min_width`` wide, inside bounds.

    ``margin`` and ``min_width`` are fractions of the bounds' width. A window too narrow grows
    around its centre; one crossing a bound shifts inside rather than shrinking.
    """
    if not 0 <= margin or not 0 < min_width <= 1:
        raise ValueError(f"need margin >= 0 and 0 < min_width <= 1, got {margin}, {min_width}")
    low, high = bounds
    width = high - low
    lo, hi = min(points) - margin * width, max(points) + margin * width
    if hi - lo < min_width * width:
        centre = (lo + hi) / 2
        lo, hi = centre - min_width * width / 2, centre + min_width * width / 2
    if lo < low:
        lo, hi = low, min(high, hi + (low - lo))
    if hi > high:
        lo, hi = max(low, lo - (hi - high)), high
    return lo, hi


def is_real(value: Any) -> bool:
    """A number that is neither a boolean nor NaN (inf counts: it clips to a bound)."""
    return (
        isinstance(value, int | float | np.integer | np.floating)
        and not isinstance(value, bool | np.bool_)
        and not math.isnan(value)
    )


def is_integer(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def integer_value(value: Any, name: str) -> int:
    if isinstance(value, float) and value.is_integer():
        return int(value)  # YAML and JSON may hand back 16.0 for 16
    if not is_integer(value):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    return int(operator.index(value))


@dataclass(frozen=True)
class _Continuous(Distribution):
    """Real values, uniform after a monotone transform ``_forward`` of the value."""

    low: float
    high: float

    def __post_init__(self) -> None:
        for name in ("low", "high"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{type(self).__name__} {name} must be a number, got {value!r}")
            object.__setattr__(self, name, float(value))
        self._check_bounds()

    @abstractmethod
    def _check_bounds(self) -> None: ...

    @abstractmethod
    def _forward(self, value: float) -> float: ...

    @abstractmethod
    def _inverse(self, t: float) -> float: ...

    def _t_bounds(self) -> tuple[float, float]:
        return self._forward(self.low), self._forward(self.high)

    def from_unit(self, u: float) -> float:
        t_low, t_high = self._t_bounds()
        return min(max(self._inverse(t_low + u * (t_high - t_low)), self.low), self.high)

    def to_unit(self, value: Any) -> float:
        t_low, t_high = self._t_bounds()
        return (self._forward(float(value)) - t_low) / (t_high - t_low)

    def contains(self, value: Any) -> bool:
        return isinstance(value, int | float) and self.low <= value <= self.high

    def edges(self) -> tuple[float, float]:
        return self.low, self.high

    def nearest(self, value: Any) -> float | None:
        if not is_real(value):
            return None
        return min(max(float(value), self.low), self.high)  # monotone scale: clip the value

    def narrow(self, values: Sequence[Any], margin: float, min_width: float) -> Distribution:
        kept = [min(max(float(v), self.low), self.high) for v in values]
        lo, hi = zoom_window([self._forward(v) for v in kept], self._t_bounds(), margin, min_width)
        # Round-off in the transform must not push the child past its parent or its own points.
        low = min(max(self._inverse(lo), self.low), min(kept))
        high = max(min(self._inverse(hi), self.high), max(kept))
        return type(self)(low, high)


@dataclass(frozen=True)
class Uniform(_Continuous):
    """Uniform on [low, high]."""

    kind: ClassVar[str] = "uniform"

    def _check_bounds(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low < self.high):
            raise ValueError(f"Uniform needs finite low < high, got {self.low}, {self.high}")

    def _forward(self, value: float) -> float:
        return value

    def _inverse(self, t: float) -> float:
        return t


@dataclass(frozen=True)
class LogUniform(_Continuous):
    """log(value) uniform on [log low, log high]: the learning rate alpha."""

    kind: ClassVar[str] = "log_uniform"

    def _check_bounds(self) -> None:
        if not (0 < self.low < self.high < math.inf):
            raise ValueError(f"LogUniform needs 0 < low < high, got {self.low}, {self.high}")

    def _forward(self, value: float) -> float:
        return math.log(value)

    def _inverse(self, t: float) -> float:
        return math.exp(t)


@dataclass(frozen=True)
class LogOneMinus(_Continuous):
    """log(1 - value) uniform: momentum beta, where 0.9 -> 0.99 is as likely as 0.99 -> 0.999."""

    kind: ClassVar[str] = "log_one_minus"

    def _check_bounds(self) -> None:
        if not (0 < self.low < self.high < 1):
            raise ValueError(f"LogOneMinus needs 0 < low < high < 1, got {self.low}, {self.high}")

    def _forward(self, value: float) -> float:
        return -math.log1p(-value)  # grows with value

    def _inverse(self, t: float) -> float:
        return -math.expm1(-t)
