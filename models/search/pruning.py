"""Successive halving across a round: at each rung, only the round's best trials train on.

A round's trials meet at each rung (models.fused), so at rung epoch r every trial still training
has trained exactly r epochs and they compare fairly. The rungs are ``min_epochs * eta**k``;
at each, the trials still training are ranked by what they would score if they stopped there
(validation accuracy at their lowest validation loss so far, ties broken by that loss) and all
but the top ``ceil(n / eta)`` stop, recorded as ``pruned``. This is synchronous successive
halving (Jamieson and Talwalkar 2016) on one round, the rule ASHA (Li et al. 2018) applies
asynchronously; Optuna's SuccessiveHalvingPruner and Ray Tune's ASHAScheduler are built for
trials reporting to a study or a scheduler one at a time, not for models stacked in one
tensor program, so the few lines of the rule live here. A trial that stopped before a rung
(patience, divergence) is not a competitor there: it trains no further either way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class SuccessiveHalving:
    """The rungs of a round and who passes each. ``reduction_factor`` is eta."""

    min_epochs: int = 4
    reduction_factor: int = 3

    def __post_init__(self) -> None:
        if self.min_epochs < 1:
            raise ValueError(f"min_epochs must be >= 1, got {self.min_epochs}")
        if self.reduction_factor < 2:
            raise ValueError(f"reduction_factor must be >= 2, got {self.reduction_factor}")

    def is_rung(self, epoch: int) -> bool:
        """Whether trials are compared after ``epoch`` epochs."""
        return epoch >= self.min_epochs and self.next_rung(epoch - 1) == epoch

    def next_rung(self, epoch: int) -> int:
        """The first rung after ``epoch`` epochs."""
        rung = self.min_epochs
        while rung <= epoch:
            rung *= self.reduction_factor
        return rung

    def keep_count(self, n: int) -> int:
        """How many of ``n`` trials at a rung train on: the top ``ceil(n / eta)``, at least one."""
        return max(1, math.ceil(n / self.reduction_factor))

    def ranks(self, scores: Sequence[tuple[float, float]]) -> list[int]:
        """Each trial's 1-based rank at a rung, given its (accuracy, loss).

        Higher accuracy first, then lower loss; NaN ranks last; ties keep the earlier trial, so
        the rule is deterministic.
        """
        order = sorted(range(len(scores)), key=lambda i: (_rank_key(scores[i]), i))
        ranks = [0] * len(scores)
        for rank, i in enumerate(order, start=1):
            ranks[i] = rank
        return ranks

    def reason(self, epoch: int, rank: int, n: int) -> str:
        return (
            f"pruned after epoch {epoch}: ranked {rank} of the {n} trials still training, "
            f"where the top {self.keep_count(n)} train on (successive halving, "
            f"eta {self.reduction_factor})"
        )


def _rank_key(score: tuple[float, float]) -> tuple[float, float]:
    accuracy, loss = score
    return (
        -accuracy if math.isfinite(accuracy) else math.inf,
        loss if math.isfinite(loss) else math.inf,
    )
