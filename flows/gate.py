"""The candidate and its promotion gate: refit, log, register, compare with the champion, decide.

The decision itself is the pure ``models.decide_promotion``; this module feeds it the two models'
predictions on the same holdout rows and carries the verdict out in the registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from mlflow import MlflowClient
from sklearn.metrics import accuracy_score

from data.preprocessing import features_and_labels, make_preprocessor
from data.window import TrainingData
from flows import registry
from flows.audit import AuditRecord
from flows.config import ProjectConfig
from flows.packaging import LoggedModelRef, Scorer, log_model
from flows.tracking import TrackingConfig
from models.estimator import BNSoftmaxClassifier
from models.refit import fit_as_searched, refit
from models.selection import PromotionDecision, TrialResult, decide_promotion


@dataclass(frozen=True)
class GateOutcome:
    version: str
    decision: PromotionDecision
    record: AuditRecord
    challenger_accuracy: float
    champion_accuracy: float | None


@dataclass(frozen=True)
class Candidate:
    """The model the gate judges, and how it was fitted (a param of the logged model)."""

    scorer: Scorer
    fit: str


def refit_candidate(
    config: ProjectConfig,
    data: TrainingData,
    best: TrialResult,
    searched: BNSoftmaxClassifier | None = None,
) -> Candidate:
    """The best configuration refit on train + validation, preprocessing fitted on the same rows.

    A refit has no validation rows to catch a divergence the search's own run escaped, so when
    it diverges the candidate is the model as the search trained it instead (``searched``, or
    the trial retrained on the training rows): a diverged model must never reach the gate,
    where with no champion yet it would be promoted unopposed.
    """
    X, y = features_and_labels(data.reference, data.spec, data.features)
    preprocessor = make_preprocessor(data.features).fit(X)
    encoded = np.asarray(preprocessor.transform(X), dtype=np.float32)
    estimator = refit(best, config.search.fixed, encoded, y.to_numpy())
    if estimator.status_ == "ok":
        fit = f"refit on training + validation rows, {estimator.n_epochs_} epochs"
        return Candidate(Scorer.from_estimator(estimator, preprocessor, data.features), fit)
    if searched is None:
        rows = data.encoded
        searched = fit_as_searched(
            best, config.search.fixed, rows.X_train, rows.y_train, rows.X_val, rows.y_val
        )
    why = f"the search's model: the refit diverged at {estimator.divergence_}"
    return searched_candidate(data, searched, why)


def searched_candidate(
    data: TrainingData, model: BNSoftmaxClassifier, fit: str = "the search's model"
) -> Candidate:
    """The model as the search trained it, with the preprocessing it trained on."""
    return Candidate(Scorer.from_estimator(model, data.encoded.preprocessor, data.features), fit)


def log_candidate(
    client: MlflowClient,
    search_run_id: str,
    data: TrainingData,
    candidate: Candidate,
    best: TrialResult,
) -> LoggedModelRef:
    example = data.split.holdout[list(data.features.all)].head(5)
    params = {**best.params, "fit": candidate.fit}
    return log_model(client, search_run_id, candidate.scorer, example, params=params)


def holdout_predictions(
    data: TrainingData, scorer: Scorer, champion_model: Any | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Truth, challenger and champion predictions on the same holdout rows."""
    X, y = features_and_labels(data.split.holdout, data.spec, data.features)
    challenger = scorer.score(X)["prediction"].to_numpy()
    champion = None
    if champion_model is not None:
        champion = champion_model.predict(X)["prediction"].to_numpy()
    return y.to_numpy(), challenger, champion


def apply_gate(
    client: MlflowClient,
    tracking: TrackingConfig,
    config: ProjectConfig,
    data: TrainingData,
    model: LoggedModelRef,
    *,
    search_run_id: str,
    predictions: tuple[np.ndarray, np.ndarray, np.ndarray | None],
) -> GateOutcome:
    """Register the candidate with its holdout metrics, then promote or refuse it, audited."""
    y, challenger, champion_pred = predictions
    challenger_accuracy = float(accuracy_score(y, challenger))
    version = registry.register_candidate(
        client,
        tracking,
        model,
        search_run_id=search_run_id,
        data_sha256=data.sha256,
        holdout_metrics={"accuracy": challenger_accuracy, "holdout_rows": float(len(y))},
    )
    promotion = config.promotion
    decision = decide_promotion(
        y,
        challenger,
        champion_pred,
        metric=promotion.metric,
        min_gain=promotion.min_gain,
        confidence=promotion.confidence,
        n_boot=promotion.n_boot,
        seed=promotion.seed,
    )
    record = registry.apply_decision(client, tracking, version, decision)
    champion_accuracy = None if champion_pred is None else float(accuracy_score(y, champion_pred))
    return GateOutcome(version, decision, record, challenger_accuracy, champion_accuracy)
