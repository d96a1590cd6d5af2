"""What the flows return: typed records, read by attribute, with one JSON form each.

``retune`` returns a ``RetuneOutcome``; ``check_drift`` a ``DriftCheckOutcome`` holding its
verdict, its report and the retune it started (or the lock's refusal). The CLI's tables, the
demo and the backtest read these fields; ``to_dict`` is what ``--json`` prints. Plain dicts and
tuples inside, no mapping proxies: a worker may pickle a flow's result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from data.drift.report import DriftReport
from flows.gate import GateOutcome
from flows.store.searches import SearchHandle
from models.search.trials import TrialResult


@dataclass(frozen=True)
class RetuneOutcome:
    """One retune: its search, its trials by status, the best of them and the gate's verdict."""

    trigger: str
    search_run_id: str
    resumed: bool
    trials: int
    ok: int
    diverged: int
    failed: int
    pruned: int
    best_params: dict[str, Any]
    best_val_accuracy: float | None
    version: str
    promoted: bool
    reason: str
    challenger_accuracy: float | None
    champion_accuracy: float | None
    probability_better: float | None

    @classmethod
    def of(
        cls,
        trigger: str,
        handle: SearchHandle,
        results: Sequence[TrialResult],
        best: TrialResult,
        verdict: GateOutcome,
    ) -> RetuneOutcome:
        decision = verdict.decision
        return cls(
            trigger=trigger,
            search_run_id=handle.run_id,
            resumed=handle.resumed,
            trials=len(results),
            ok=sum(r.status == "ok" for r in results),
            diverged=sum(r.status == "diverged" for r in results),
            failed=sum(r.status == "failed" for r in results),
            pruned=sum(r.status == "pruned" for r in results),
            best_params=dict(best.params),
            best_val_accuracy=best.metrics.get("val_accuracy"),
            version=str(verdict.version),
            promoted=decision.promote,
            reason=decision.reason,
            challenger_accuracy=verdict.challenger_accuracy,
            champion_accuracy=verdict.champion_accuracy,
            probability_better=decision.probability,
        )

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class RetuneRefused:
    """A drifted check's retune that did not start: another retune of the model held the lock."""

    refused: str

    def to_dict(self) -> dict[str, Any]:
        return {"refused": self.refused}


DriftCheckStatus = Literal["checked", "checked elsewhere", "nothing new", "resumed"]


@dataclass(frozen=True)
class DriftCheckOutcome:
    """One check: which batch, whether it drifted, the report, and what the drift started.

    ``status`` is ``checked``; ``checked elsewhere`` (a concurrent check of the same batch won
    and retunes); ``nothing new`` (every batch is checked); or ``resumed`` (the retune a killed
    check had started, run again).
    """

    status: DriftCheckStatus
    drifted: bool = False
    batch_id: str | None = None
    passed_over: tuple[str, ...] = ()
    drift_run_id: str | None = None
    report: DriftReport | None = None
    retune: RetuneOutcome | RetuneRefused | None = field(default=None)
    skipped: tuple[str, ...] = ()  # new batches not taken (old, or copies), each with why
    waiting: tuple[str, ...] = ()  # batch files not whole yet, left for a later check

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "batch_id": self.batch_id,
            "passed_over": list(self.passed_over),
            "skipped": list(self.skipped),
            "waiting": list(self.waiting),
            "drifted": self.drifted,
            "drift_run_id": self.drift_run_id,
            "report": None if self.report is None else self.report.to_dict(),
            "retune": None if self.retune is None else self.retune.to_dict(),
        }
