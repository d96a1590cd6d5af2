"""SearchPlan: a project's search, parsed once, as the core takes it whole.

The config's ``search`` section is validated at the edge (flows/config.py, pydantic) and turned
into this frozen record there, once; the strategies, the driver, the trial's settings and the
budget all read it, so no layer re-reads the YAML's shape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from models.search.fidelity import Fidelity
from models.search.pruning import SuccessiveHalving
from models.search.space import SearchSpace

Strategy = Literal["caviar", "panda"]


@dataclass(frozen=True)
class PandaPlan:
    """How panda babysits its one model: segments of epochs, or a person's rate per segment."""

    segments: int = 6
    epochs_per_segment: int = 5
    schedule: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.segments < 1 or self.epochs_per_segment < 1:
            raise ValueError("panda's segments and epochs_per_segment must each be at least 1")
        if self.schedule is not None:
            object.__setattr__(self, "schedule", tuple(float(a) for a in self.schedule))


@dataclass(frozen=True)
class SearchPlan:
    """What to search (``space``), what every trial shares (``fixed``), how, and how much."""

    space: SearchSpace
    strategy: Strategy = "caviar"
    fixed: Mapping[str, Any] = field(default_factory=dict)
    rounds: int = 3
    trials_per_round: int = 6
    top_k: int = 3
    seed: int = 0
    max_consecutive_failures: int = 5
    warm_start_k: int = 2
    fused: bool = False  # caviar: a round's trials of one structure trained as one model
    pruner: SuccessiveHalving | None = None  # caviar, fused rounds only: weak trials stop early
    fidelity: Fidelity | None = Fidelity()  # caviar: early rounds on fewer rows and epochs
    panda: PandaPlan = PandaPlan()

    def __post_init__(self) -> None:
        if self.strategy not in ("caviar", "panda"):
            raise ValueError(f"strategy must be 'caviar' or 'panda', got {self.strategy!r}")
        for name in ("rounds", "trials_per_round", "top_k", "max_consecutive_failures"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.pruner is not None and not self.fused and self.strategy == "caviar":
            raise ValueError("pruning needs fused rounds: trials meet at the rungs there")
        object.__setattr__(self, "fixed", MappingProxyType(dict(self.fixed)))

    def __reduce__(self) -> tuple[Any, ...]:
        # A mapping proxy cannot be pickled; process-based task runners (Dask) pickle plans.
        fields = {name: getattr(self, name) for name in self.__dataclass_fields__}
        return (_rebuilt, ({**fields, "fixed": dict(self.fixed)},))

    @property
    def budget(self) -> int:
        """How many trials the search trains: caviar's rounds times their trials, panda's one."""
        return self.rounds * self.trials_per_round if self.strategy == "caviar" else 1

    def warm_configs(self, configs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """The warm start's configurations a first round has room for."""
        return [dict(c) for c in configs][: self.trials_per_round]


def _rebuilt(fields: dict[str, Any]) -> SearchPlan:
    return SearchPlan(**fields)
