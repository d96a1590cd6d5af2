"""SearchSpace: named hyperparameter distributions, seeded sampling and the coarse-to-fine zoom.

Random search, never grid: a few hyperparameters matter far more than others, and random points
try a new value of each one at every trial. The space is checked, serialisable data (a dict or
YAML), so every search can log exactly what it sampled from.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np
import yaml

from models.search.discrete import Choice, IntUniform, PowerOfTwo
from models.search.distributions import Distribution, LogOneMinus, LogUniform, Uniform
from models.search.trials import TrialResult, ranked

__all__ = [
    "Choice",
    "Distribution",
    "IntUniform",
    "LogOneMinus",
    "LogUniform",
    "PowerOfTwo",
    "SearchSpace",
    "Uniform",
]


class SearchSpace(Mapping[str, Distribution]):
    """An ordered, immutable mapping of parameter names to distributions.

    Names are the estimator's parameter names (``learning_rate``, ``momentum``, ...), so a
    sampled configuration can be passed straight to ``BNSoftmaxClassifier(**params)``.
    """

    def __init__(self, params: Mapping[str, Distribution]) -> None:
        if not params:
            raise ValueError("a search space needs at least one parameter")
        for name, dist in params.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"parameter names must be non-empty text, got {name!r}")
            if not isinstance(dist, Distribution):
                raise ValueError(f"{name}: expected a Distribution, got {dist!r}")
        self._params = MappingProxyType(dict(params))

    @classmethod
    def default(cls) -> SearchSpace:
        """The five hyperparameters of the batch-norm softmax classifier, most important first."""
        return cls(
            {
                "learning_rate": LogUniform(1e-4, 1e-1),
                "momentum": LogOneMinus(0.8, 0.999),
                "n_layers": IntUniform(1, 4),
                "hidden_units": IntUniform(16, 256),
                "batch_size": PowerOfTwo(16, 512),
            }
        )

    def __reduce__(self) -> tuple[type[SearchSpace], tuple[dict[str, Distribution]]]:
        return (SearchSpace, (dict(self._params),))  # a mapping proxy cannot be pickled

    def __getitem__(self, name: str) -> Distribution:
        return self._params[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def __repr__(self) -> str:
        inner = ", ".join(f"{name!r}: {dist!r}" for name, dist in self.items())
        return f"SearchSpace({{{inner}}})"

    def sample(self, n: int, rng: np.random.Generator) -> list[dict[str, Any]]:
        """``n`` independent configurations; parameter by parameter, so adding a parameter at
        the end leaves the earlier parameters' draws unchanged for the same seed."""
        if n < 0:
            raise ValueError(f"cannot sample {n} configurations")
        columns = {name: dist.sample(rng, n) for name, dist in self.items()}
        return [{name: columns[name][i] for name in self} for i in range(n)]

    def contains(self, params: Mapping[str, Any]) -> bool:
        """Whether every parameter of this space is set and inside its distribution."""
        return all(name in params and dist.contains(params[name]) for name, dist in self.items())

    def zoom(
        self,
        results: Sequence[TrialResult],
        top_k: int,
        *,
        margin: float = 0.1,
        min_width: float = 0.1,
        metric: str = "val_accuracy",
    ) -> SearchSpace:
        """A child space around the ``top_k`` best ok trials, never outside this one.

        Per parameter, on its own scale: the span of the top-k values, widened by ``margin`` on
        each side, at least ``min_width`` wide (both fractions of this space's width), clipped to
        this space. Powers of two and choices keep the values used and their neighbours.
        Diverged and failed trials are never zoomed on; a top trial outside this space (from an
        earlier, wider round) pulls the child to this space's edge.
        """
        if top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {top_k}")
        best = ranked(results, metric)[:top_k]
        if not best:
            raise ValueError(f"no ok trial with a finite {metric!r} to zoom on")
        child = {}
        for name, dist in self.items():
            values = [r.params[name] for r in best if name in r.params]
            child[name] = dist.narrow(values, margin, min_width) if values else dist
        return SearchSpace(child)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {name: dist.to_dict() for name, dist in self.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Mapping[str, Any]]) -> SearchSpace:
        if not isinstance(data, Mapping):
            raise ValueError(f"a search space is a mapping of names to distributions: {data!r}")
        params = {}
        for name, spec in data.items():
            if not isinstance(spec, Mapping):
                raise ValueError(f"{name}: expected a distribution mapping, got {spec!r}")
            try:
                params[name] = Distribution.from_dict(spec)
            except ValueError as error:
                raise ValueError(f"{name}: {error}") from error
        return cls(params)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_yaml(cls, text: str) -> SearchSpace:
        return cls.from_dict(yaml.safe_load(text))
