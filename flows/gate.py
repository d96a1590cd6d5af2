"""The candidate and its promotion gate: judge, decide, refit on the whole window, register.

The gate judges the best configuration as refit on train + validation, against the champion on
the same holdout rows; the decision itself is the pure ``models.decide_promotion``. A promoted
configuration is then refit once more on the whole window, holdout included, so the champion
has seen the newest rows (standard practice once selection is done: the holdout has served its
purpose). Its version keeps the judged model's holdout metrics and the gate's evidence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from mlflow import MlflowClient

from data.preprocessing import features_and_labels, make_preprocessor
from data.window import TrainingData
from flows.config import ProjectConfig
from flows.cores import parallel_trials
from flows.store import registry
from flows.store.audit import AuditRecord
from flows.store.handle import Store
from flows.store.packaging import LoggedModelRef, Scorer, log_model
from models.ensemble import Members
from models.estimator import BNSoftmaxClassifier
from models.promotion import PromotionDecision, decide_promotion
from models.refit import fit_as_searched, refit_members
from models.search.trials import TrialResult


@dataclass(frozen=True)
class GateOutcome:
    version: str
    decision: PromotionDecision
    record: AuditRecord | None
    challenger_accuracy: float
    champion_accuracy: float | None
    fit: str = ""


@dataclass(frozen=True)
class Candidate:
    """A model the gate judges or promotes, and how it was fitted (a param of the logged model)."""

    scorer: Scorer
    fit: str
    on_window: bool = False  # learned from the whole window, holdout included


def refit_candidate(
    config: ProjectConfig,
    data: TrainingData,
    members: Members,
    searched: BNSoftmaxClassifier | None = None,
    *,
    n_threads: int,
) -> Candidate:
    """The chosen trials refit on train + validation: the model the gate judges.

    A refit has no validation rows to catch a divergence the search's own run escaped, so a
    member whose refit diverges is left out (the others' weights renormalised); when every
    member's does, the candidate is the best member as the search trained it (``searched``,
    or the trial retrained on the training rows): a diverged model must never reach the gate,
    where with no champion yet it would be promoted unopposed.
    """
    scorer, outcome = _refit_on(data.reference, config, data, members, n_threads)
    if scorer is not None:
        return Candidate(scorer, f"{_what(members)}refit on training + validation rows, {outcome}")
    best = members[0][0]
    rows = data.encoded
    if searched is None:
        searched = fit_as_searched(
            best,
            config.search.fixed,
            rows.X_train,
            rows.y_train,
            rows.X_val,
            rows.y_val,
            n_threads=n_threads,
        )
    why = f"the search's model: the refit diverged at {outcome}"
    fitted_on = features_and_labels(data.split.train, data.spec, data.features)[0]
    scorer = Scorer.from_estimator(searched, rows.preprocessor, data.features, fitted_on)
    return Candidate(scorer, why)


def window_candidate(
    config: ProjectConfig,
    data: TrainingData,
    members: Members,
    *,
    n_threads: int,
) -> Candidate | None:
    """The promoted trials refit on the whole window; None when every member's refit diverges."""
    scorer, outcome = _refit_on(data.window, config, data, members, n_threads)
    if scorer is None:
        return None
    fit = f"{_what(members)}refit on the whole window ({len(data.window)} rows), {outcome}"
    return Candidate(scorer, fit, on_window=True)


def _what(members: Members) -> str:
    """How a fit description starts: nothing for one trial, the members for an ensemble."""
    if len(members) == 1:
        return ""
    shares = ", ".join(f"trial {trial.index} x {weight:.2f}" for trial, weight in members)
    return f"an ensemble of {len(members)} trials ({shares}), each "


def _on_threads(counts: set[int | None]) -> str:
    if counts == {1}:
        return " on 1 torch thread"
    if counts == {None}:
        return " on torch's default threads"
    return " on " + " or ".join(str(n) for n in sorted(counts, key=str)) + " torch threads"


def _refit_on(
    frame: pd.DataFrame,
    config: ProjectConfig,
    data: TrainingData,
    members: Members,
    n_threads: int,
) -> tuple[Scorer | None, str]:
    """The members refit on ``frame``, preprocessing fitted once on the same rows.

    Returns the scorer and, in words, the epochs and torch threads it trained on, or None and
    where the refits diverged. The thread count is read back from the fitted estimators, so the
    words say what each refit really used: a refit on another count than its trial's neither
    reproduces nor runs as fast.
    """
    X, y = features_and_labels(frame, data.spec, data.features)
    preprocessor = make_preprocessor(data.features).fit(X)
    encoded = np.asarray(preprocessor.transform(X), dtype=np.float32)
    fitted = refit_members(
        members,
        config.search.fixed,
        encoded,
        y.to_numpy(),
        n_threads=n_threads,
        workers=parallel_trials(config),
    )
    kept = [(estimator, weight) for estimator, weight in fitted if estimator.status_ == "ok"]
    if not kept:
        return None, "; ".join(str(estimator.divergence_) for estimator, _ in fitted)
    scorer = Scorer.from_estimators(kept, preprocessor, data.features, X)
    epochs = sorted({estimator.n_epochs_ for estimator, _ in kept})
    outcome = f"{epochs[0]} epochs" if len(epochs) == 1 else f"{epochs[0]}-{epochs[-1]} epochs"
    outcome += _on_threads({estimator.n_threads for estimator, _ in kept})
    if len(kept) < len(fitted):
        outcome += f" ({len(fitted) - len(kept)} member(s) diverged and were left out)"
    return scorer, outcome


def holdout_predictions(
    data: TrainingData,
    scorer: Scorer,
    champion_model: Any | None,
    rows: pd.DataFrame | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Truth, challenger and champion predictions on the same holdout rows (``rows``: a part)."""
    holdout = data.split.holdout if rows is None else rows
    X, y = features_and_labels(holdout, data.spec, data.features)
    challenger = scorer.score(X)["prediction"].to_numpy()
    champion = None
    if champion_model is not None:
        champion = champion_model.predict(X)["prediction"].to_numpy()
    return y.to_numpy(), challenger, champion


def unseen_by_champion(
    data: TrainingData, champion_tags: Mapping[str, str], champion_end: pd.Timestamp | None
) -> pd.DataFrame:
    """The holdout rows the champion never learned: all of them unless it was refit on a window
    that reached into this holdout (no new rows since: a scheduled or manual retune on the
    same data). Then only the rows newer than its data, or none when the data has no time."""
    holdout = data.split.holdout
    if "whole window" not in champion_tags.get("fit", ""):
        return holdout  # it learned train + validation rows only: its holdout is unseen
    if champion_tags.get("data_sha256") == data.sha256:
        return holdout.iloc[:0]
    time = data.spec.time
    if time is None or champion_end is None:
        return holdout
    try:
        return holdout[holdout[time] > champion_end]
    except TypeError:  # one time zone-aware, the other not: no order to judge by
        return holdout


def nothing_new(unseen: int, holdout: int, end: Any) -> str:
    """The gate's reason when too few holdout rows are new to the champion to judge on."""
    learned = "" if end is None else f" (its data runs to {end})"
    return (
        f"refused: nothing new to judge on: the champion learned {holdout - unseen} of the "
        f"{holdout} holdout rows{learned}, so both cannot be judged on rows neither was fitted "
        f"on ({unseen} left, fewer than window.min_rows); the champion stays"
    )


def decide(
    config: ProjectConfig, predictions: tuple[np.ndarray, np.ndarray, np.ndarray | None]
) -> PromotionDecision:
    """The gate's verdict under the project's promotion settings."""
    y, challenger, champion = predictions
    promotion = config.promotion
    return decide_promotion(
        y,
        challenger,
        champion,
        metric=promotion.metric,
        rule=promotion.rule,
        min_gain=promotion.min_gain,
        margin=promotion.margin,
        confidence=promotion.confidence,
        n_boot=promotion.n_boot,
        seed=promotion.seed,
    )


def log_candidate(
    client: MlflowClient,
    search_run_id: str,
    data: TrainingData,
    candidate: Candidate,
    best: TrialResult,
) -> LoggedModelRef:
    """The model the version will hold, under the search run; its params the best trial's."""
    example = data.split.holdout[list(data.features.all)].head(5)
    params = {**best.params, "fit": candidate.fit}
    return log_model(client, search_run_id, candidate.scorer, example, params=params)


def register(
    store: Store,
    model: LoggedModelRef,
    *,
    search_run_id: str,
    data_sha256: str,
    decision: PromotionDecision,
    fit: str,
) -> str:
    """The version for this search: found again when a rerun registered it already."""
    existing = registry.version_of_search(store, search_run_id)
    if existing is not None:
        return existing
    return registry.register_candidate(
        store,
        model,
        search_run_id=search_run_id,
        data_sha256=data_sha256,
        # The judged model's holdout score: an honest estimate for a refit on the whole window,
        # which has seen the holdout and so cannot be scored on it.
        holdout_metrics={
            "accuracy": decision.challenger_score,
            "holdout_rows": float(decision.n_rows),
        },
        extra_tags={
            "fit": fit[:500],
            "gate.decision": "promote" if decision.promote else "refuse",
            "gate.reason": decision.reason[:1000],
        },
    )


def carry_out(
    store: Store,
    version: str,
    decision: PromotionDecision,
    *,
    search_run_id: str,
) -> AuditRecord:
    """Promote or refuse, audited once: a rerun finds the record by its event id."""
    event_id = f"gate-{search_run_id}"
    registry.repair(store)  # finishes a move a kill interrupted, audit included
    done = registry.find_audit(store, event_id)
    if done is not None:
        return done
    return registry.apply_decision(store, version, decision, event_id=event_id)
