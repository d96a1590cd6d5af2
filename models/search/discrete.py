"""Distributions over a finite set of values: integers, powers of two, choices.

Each value owns an equal cell of the unit interval (on the log scale for ``IntUniform(log=True)``),
so a round trip through the unit interval returns the same value, and a zoom keeps the values
the best trials used plus their neighbours.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from models.search.distributions import (
    Distribution,
    Value,
    integer_value,
    is_integer,
    is_real,
    zoom_window,
)


@dataclass(frozen=True)
class IntUniform(Distribution):
    """Integers low..high, each equally likely, or log-uniformly spread when ``log``.

    Each integer v owns the cell [v - 0.5, v + 0.5] (on the log scale when ``log``), so the unit
    interval splits into cells and a round trip through it returns the same integer.
    """

    low: int
    high: int
    log: bool = False
    kind: ClassVar[str] = "int_uniform"

    def __post_init__(self) -> None:
        object.__setattr__(self, "low", integer_value(self.low, "IntUniform low"))
        object.__setattr__(self, "high", integer_value(self.high, "IntUniform high"))
        if self.low > self.high:
            raise ValueError(f"IntUniform needs low <= high, got {self.low}, {self.high}")
        if self.log and self.low < 1:
            raise ValueError(f"IntUniform(log=True) needs low >= 1, got {self.low}")
        object.__setattr__(self, "log", bool(self.log))

    def _forward(self, value: float) -> float:
        return math.log(value) if self.log else value

    def _t_bounds(self) -> tuple[float, float]:
        return self._forward(self.low - 0.5), self._forward(self.high + 0.5)

    def from_unit(self, u: float) -> int:
        t_low, t_high = self._t_bounds()
        t = t_low + u * (t_high - t_low)
        value = math.floor((math.exp(t) if self.log else t) + 0.5)
        return min(max(value, self.low), self.high)

    def to_unit(self, value: Any) -> float:
        t_low, t_high = self._t_bounds()
        return (self._forward(float(value)) - t_low) / (t_high - t_low)

    def contains(self, value: Any) -> bool:
        return is_integer(value) and self.low <= value <= self.high

    def edges(self) -> tuple[int, int]:
        return self.low, self.high

    def nearest(self, value: Any) -> int | None:
        if not is_real(value):
            return None
        clipped = min(max(float(value), self.low), self.high)
        return min(max(math.floor(clipped + 0.5), self.low), self.high)

    def narrow(self, values: Sequence[Any], margin: float, min_width: float) -> IntUniform:
        kept = [min(max(int(v), self.low), self.high) for v in values]
        lo, hi = zoom_window([self._forward(v) for v in kept], self._t_bounds(), margin, min_width)
        inverse = math.exp if self.log else float
        low = max(self.low, min(math.ceil(inverse(lo) - 1e-9), min(kept)))
        high = min(self.high, max(math.floor(inverse(hi) + 1e-9), max(kept)))
        # Agreeing trials keep their neighbours, so the child can still move.
        while high - low < 2 and (low > self.low or high < self.high):
            low = low - 1 if low > self.low else low
            high = high + 1 if high - low < 2 and high < self.high else high
        return IntUniform(low, high, self.log)


class _Finite(Distribution):
    """A finite, ordered list of values, each equally likely; one cell of [0, 1] each."""

    @property
    @abstractmethod
    def options(self) -> tuple[Any, ...]: ...

    def _index(self, value: Any) -> int | None:
        for i, ours in enumerate(self.options):
            if type(ours) is type(value) and ours == value:
                return i
        return None

    def from_unit(self, u: float) -> Any:
        return self.options[min(int(u * len(self.options)), len(self.options) - 1)]

    def to_unit(self, value: Any) -> float:
        index = self._index(value)
        if index is None:
            raise ValueError(f"{value!r} is not one of {list(self.options)}")
        return (index + 0.5) / len(self.options)

    def contains(self, value: Any) -> bool:
        return self._index(value) is not None

    def edges(self) -> tuple[Any, ...]:
        return self.options

    def nearest(self, value: Any) -> Any | None:
        return value if self.contains(value) else None

    def _kept(self, values: Sequence[Any]) -> list[int]:
        """Indices of the values used and their neighbours; all of them when none was used."""
        used = {i for i in map(self._index, values) if i is not None}
        near = {j for i in used for j in (i - 1, i, i + 1) if 0 <= j < len(self.options)}
        return sorted(near) or list(range(len(self.options)))


@dataclass(frozen=True)
class PowerOfTwo(_Finite):
    """Powers of two from low to high, each equally likely: the mini-batch size."""

    low: int
    high: int
    kind: ClassVar[str] = "power_of_two"

    def __post_init__(self) -> None:
        for name in ("low", "high"):
            value = integer_value(getattr(self, name), f"PowerOfTwo {name}")
            if value < 1 or value & (value - 1):
                raise ValueError(f"PowerOfTwo {name} must be a power of two, got {value}")
            object.__setattr__(self, name, value)
        if self.low > self.high:
            raise ValueError(f"PowerOfTwo needs low <= high, got {self.low}, {self.high}")

    @property
    def options(self) -> tuple[int, ...]:
        return tuple(2**e for e in range(self.low.bit_length() - 1, self.high.bit_length()))

    def nearest(self, value: Any) -> int | None:
        """The power of two closest on the log scale, clipped to low..high."""
        if not is_real(value):
            return None
        if value <= self.low:
            return self.low
        if value >= self.high:
            return self.high
        return min(self.options, key=lambda option: abs(math.log2(option) - math.log2(value)))

    def narrow(self, values: Sequence[Any], margin: float, min_width: float) -> PowerOfTwo:
        """The powers the best trials used, their neighbours, and every power between."""
        kept = self._kept([int(v) for v in values if is_integer(v)])
        return PowerOfTwo(self.options[kept[0]], self.options[kept[-1]])


@dataclass(frozen=True)
class Choice(_Finite):
    """One of a list of values (text, numbers or booleans), each equally likely."""

    values: tuple[Value, ...]
    kind: ClassVar[str] = "choice"

    def __post_init__(self) -> None:
        values = tuple(self.values)
        if not values:
            raise ValueError("Choice needs at least one value")
        for value in values:
            if not isinstance(value, str | int | float | bool):
                raise ValueError(f"Choice values must be text, numbers or booleans: {value!r}")
        if len({(type(v), v) for v in values}) != len(values):
            raise ValueError(f"Choice values must be distinct, got {list(values)}")
        object.__setattr__(self, "values", values)

    @property
    def options(self) -> tuple[Value, ...]:
        return self.values

    def narrow(self, values: Sequence[Any], margin: float, min_width: float) -> Choice:
        """The values the best trials used plus their neighbours in the declared order."""
        return Choice(tuple(self.values[i] for i in self._kept(values)))

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "values": list(self.values)}
