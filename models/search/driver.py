"""Running a search: propose a round, train its trials, feed the results back, until done.

``run_search`` calls ``train_fn(params, seed) -> TrialResult`` for every proposal. By default a
round's trials train one after the other; a flow passes ``run_round`` to submit each proposal as
a task and gather them, since a round's proposals are all known before any trains. Diverged and
failed trials stay results (never zoomed on); a run of them in a row stops the search with a
``SearchError`` naming their errors.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol

from models.errors import SearchError
from models.search.trials import TRIAL_STATUSES, Proposal, TrialResult, best_trial

TrainFn = Callable[[Mapping[str, Any], int], TrialResult]
RunRound = Callable[[TrainFn, Sequence[Proposal]], Sequence[TrialResult]]
OnResult = Callable[[Proposal, TrialResult], None]


@dataclass(frozen=True)
class SearchOutcome:
    """Every result in trial-index order, the best ok trial, and how many ended in each status."""

    results: tuple[TrialResult, ...]
    best: TrialResult
    counts: Mapping[str, int]

    def __post_init__(self) -> None:
        object.__setattr__(self, "counts", MappingProxyType(dict(self.counts)))

    def __reduce__(self) -> tuple[type[SearchOutcome], tuple[Any, ...]]:
        return (SearchOutcome, (self.results, self.best, dict(self.counts)))


def run_search(
    strategy: Strategy,
    train_fn: TrainFn,
    *,
    run_round: RunRound | None = None,
    completed: Mapping[int, TrialResult] | None = None,
    max_consecutive_failures: int = 5,
    on_result: OnResult | None = None,
    metric: str = "val_accuracy",
) -> SearchOutcome:
    """Run ``strategy`` to the end, training each proposal with ``train_fn``.

    ``run_round(train_fn, proposals)`` trains a round's new proposals and returns their results
    in the same order (default: one by one, through ``safe_train``). ``completed`` holds trials
    already finished by index (a resumed search): they are not trained again but are fed to the
    strategy as history. ``on_result(proposal, result)`` is called for each newly trained trial.
    Raises ``SearchError`` after ``max_consecutive_failures`` non-ok trials in a row, or when the
    search ends without an ok trial.
    """
    if max_consecutive_failures < 1:
        raise ValueError(f"max_consecutive_failures must be >= 1, got {max_consecutive_failures}")
    done = dict(completed or {})
    tally = _Tally(max_consecutive_failures)
    while proposals := strategy.propose(tuple(tally.results)):
        _check_round(proposals, len(tally.results), done)
        for proposal, result, is_new in _round_results(proposals, done, train_fn, run_round):
            if is_new and on_result is not None:
                on_result(proposal, result)
            tally.add(proposal, result)
    results = tuple(tally.results)
    counts: dict[str, int] = {s: sum(r.status == s for r in results) for s in TRIAL_STATUSES}
    if not counts["ok"]:
        raise SearchError(
            f"the search ended without an ok trial ({len(results)} trials); "
            f"last errors: {_describe(tally.failures)}",
            errors=[error for _, error in tally.failures],
            results=results,
        )
    return SearchOutcome(results=results, best=best_trial(results, metric), counts=counts)


def sequential(train_fn: TrainFn, proposals: Sequence[Proposal]) -> list[TrialResult]:
    """The simplest ``run_round``: each proposal in turn, in this process."""
    return [safe_train(train_fn, proposal) for proposal in proposals]


def safe_train(train_fn: TrainFn, proposal: Proposal) -> TrialResult:
    """``train_fn`` on one proposal; an exception becomes a ``failed`` result, never a crash.

    The one place a trial gets its proposal's index and round. Flows call this inside their
    trial task.
    """
    started = time.perf_counter()
    try:
        result = train_fn(dict(proposal.params), proposal.seed)
    except Exception as error:
        result = failed_trial(proposal.params, proposal.seed, error, time.perf_counter() - started)
    if not isinstance(result, TrialResult):
        raise TypeError(f"train_fn must return a TrialResult, got {type(result).__name__}")
    return proposal.stamp(result)


def failed_trial(
    params: Mapping[str, Any], seed: int, error: BaseException, seconds: float
) -> TrialResult:
    return TrialResult(
        params=params,
        seed=seed,
        status="failed",
        duration_s=seconds,
        error=f"{type(error).__name__}: {error}",
    )


class _Tally:
    """The results in index order and the current run of non-ok trials."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.results: list[TrialResult] = []
        self.failures: list[tuple[int, str]] = []

    def add(self, proposal: Proposal, result: TrialResult) -> None:
        self.results.append(result)
        if not result.broken:
            self.failures.clear()
            return
        self.failures.append((proposal.index, f"{result.status}: {result.error}"))
        if len(self.failures) >= self.limit:
            raise SearchError(
                f"search stopped: {len(self.failures)} trials in a row did not finish ok "
                f"(max_consecutive_failures={self.limit}); last errors: {_describe(self.failures)}",
                errors=[error for _, error in self.failures],
                results=self.results,
            )


def _describe(failures: Sequence[tuple[int, str]], width: int = 300) -> str:
    if not failures:
        return "none"
    return "; ".join(f"trial {index} {error[:width]}" for index, error in failures)


def _check_round(
    proposals: Sequence[Proposal], start: int, done: Mapping[int, TrialResult]
) -> None:
    """Proposals continue the index sequence; a resumed trial is the one proposed again."""
    indices = [p.index for p in proposals]
    if indices != list(range(start, start + len(proposals))):
        raise ValueError(f"proposals must continue the trial indices from {start}: got {indices}")
    for proposal in proposals:
        previous = done.get(proposal.index)
        if previous is None:
            continue
        # Compared as text: a resumed result may come back from a store that logs params as text.
        same = previous.seed == proposal.seed and all(
            str(previous.params.get(name)) == str(value) for name, value in proposal.params.items()
        )
        if not same:
            raise ValueError(
                f"completed trial {proposal.index} was trained with seed {previous.seed} and "
                f"{dict(previous.params)}, but the search now proposes seed {proposal.seed} and "
                f"{dict(proposal.params)}: a different space, seed or history"
            )


def _round_results(
    proposals: Sequence[Proposal],
    done: Mapping[int, TrialResult],
    train_fn: TrainFn,
    run_round: RunRound | None,
) -> Iterator[tuple[Proposal, TrialResult, bool]]:
    """Each proposal with its result and whether it is new, in index order.

    Lazy when training one by one, so a failure streak stops before the rest of the round trains.
    """
    if run_round is None:
        for p in proposals:
            yield (
                (p, done[p.index], False) if p.index in done else (p, safe_train(train_fn, p), True)
            )
        return
    todo = [p for p in proposals if p.index not in done]
    trained = list(run_round(train_fn, todo)) if todo else []
    if len(trained) != len(todo):
        raise ValueError(f"run_round returned {len(trained)} results for {len(todo)} proposals")
    fresh = {}
    for p, r in zip(todo, trained, strict=True):
        if (r.index, r.round) != (p.index, p.round):
            raise ValueError(
                f"run_round returned trial {r.index} of round {r.round} for proposal {p.index} "
                f"of round {p.round}: train each proposal through safe_train"
            )
        fresh[p.index] = r
    for p in proposals:
        yield (p, done[p.index], False) if p.index in done else (p, fresh[p.index], True)


class Strategy(Protocol):
    """Proposes the next round from the results of every earlier proposal, in index order."""

    def propose(self, results: Sequence[TrialResult]) -> list[Proposal]:
        """The next round's proposals, all known before any trains; empty when finished."""
        ...
