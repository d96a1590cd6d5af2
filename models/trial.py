"""A trial trained: settings merged in one place, the classifier fitted and scored as a TrialResult.

A search samples a few parameters; every trial also shares the project's fixed settings
(``search.fixed``), and its seed becomes the estimator's ``random_state``. Training a trial,
refitting the winner and babysitting it all build the estimator from here, so the three agree.
This is the torch half of a search; models/search/ (what to try next) never imports torch.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import accuracy_score, log_loss

from models.estimator import BNSoftmaxClassifier
from models.folds import Fold, merge_fold_results
from models.fused import threads, train_fused
from models.search.driver import TrainFn, failed_trial
from models.search.fidelity import RoundBudget, subsample
from models.search.plan import SearchPlan
from models.search.pruning import SuccessiveHalving
from models.search.trials import Proposal, TrialResult

# Settings that say how a process runs a fit, not what is fitted: never part of a trial's record.
RUNTIME_SETTINGS = ("n_threads",)


def estimator_settings(
    fixed: Mapping[str, Any], params: Mapping[str, Any], seed: int, **overrides: Any
) -> dict[str, Any]:
    """``fixed`` under the searched ``params``, seeded, then ``overrides`` on top."""
    return {**fixed, **params, "random_state": seed, **overrides}


def trial_settings(trial: TrialResult, fixed: Mapping[str, Any]) -> dict[str, Any]:
    """The settings ``trial`` trained with, as it recorded them.

    A trial logged before trials recorded their settings gets them merged again, by the same
    function that merged them when it trained.
    """
    if trial.settings:
        return dict(trial.settings)
    return estimator_settings(fixed, trial.params, trial.seed)


def _recorded(settings: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in settings.items() if k not in RUNTIME_SETTINGS}


def _at_budget(settings: Mapping[str, Any], budget: RoundBudget | None) -> dict[str, Any]:
    """The settings a trial fits with at a round's budget: its epochs cut, nothing else.

    The trial records ``settings`` as they were (the configuration, which the refit and the
    window choice train at full fidelity) and its fidelity apart (``fidelity_of``).
    """
    fit = dict(settings)
    if budget is not None and budget.epochs_divisor > 1:
        max_epochs = int(fit.get("max_epochs", BNSoftmaxClassifier().max_epochs))
        fit["max_epochs"] = budget.epochs(max_epochs)
    return fit


def fidelity_of(
    fit: Mapping[str, Any], train_rows: int, budget: RoundBudget | None
) -> dict[str, Any]:
    """A trial's extras recording its fidelity (none without a round budget)."""
    if budget is None:
        return {}
    epochs = int(fit.get("max_epochs", BNSoftmaxClassifier().max_epochs))
    return {"fidelity": {"rows": int(train_rows), "epochs": epochs, "full": budget.full}}


def round_folds(
    folds: Sequence[Fold], plan: SearchPlan, round_: int
) -> tuple[tuple[Fold, ...], RoundBudget | None]:
    """The folds round ``round_`` of ``plan``'s search trains on, and its budget (None when the
    plan has no ``fidelity``: today's full search, recording nothing)."""
    if plan.fidelity is None:
        return tuple(folds), None
    n_rows = max(len(f.y_train) for f in folds)
    budget = plan.fidelity.budget(round_, plan.rounds, n_rows)
    return folds_at_budget(folds, budget, seed=plan.seed, round_=round_), budget


def folds_at_budget(
    folds: Sequence[Fold], budget: RoundBudget, *, seed: int, round_: int
) -> tuple[Fold, ...]:
    """``folds`` with their training rows subsampled to ``budget``; validation rows whole, so
    every round's trials are scored on the same rows."""
    if budget.rows >= budget.total_rows:
        return tuple(folds)
    cut = []
    for f in folds:
        keep = subsample(len(f.y_train), budget.rows_of(len(f.y_train)), seed, round_)
        cut.append(Fold(f.X_train[keep], f.y_train[keep], f.X_val, f.y_val))
    return tuple(cut)


def make_train_fn(
    X_train: ArrayLike,
    y_train: ArrayLike,
    X_val: ArrayLike,
    y_val: ArrayLike,
    *,
    fixed_params: Mapping[str, Any] | None = None,
    n_threads: int | None = None,
    budget: RoundBudget | None = None,
) -> TrainFn:
    """The default ``train_fn``: fit a ``BNSoftmaxClassifier`` on the training arrays, score it on
    the validation arrays. ``params`` override ``fixed_params``; the trial seed is the
    ``random_state``. Any exception becomes a ``failed`` result with its error text. With a
    round ``budget`` (the arrays already cut to its rows), the fit runs its epochs and the
    trial records its fidelity in ``extras``."""
    fixed = dict(fixed_params or {})

    def train_fn(params: Mapping[str, Any], seed: int) -> TrialResult:
        started = time.perf_counter()
        try:
            settings = estimator_settings(fixed, params, seed)
            if n_threads is not None:
                settings["n_threads"] = n_threads
            fit = _at_budget(settings, budget)
            model = BNSoftmaxClassifier(**fit).fit(X_train, y_train, eval_set=(X_val, y_val))
            result = trial_from_classifier(
                model, X_val, y_val, params=params, seed=seed, seconds=time.perf_counter() - started
            )
            extras = {**result.extras, **fidelity_of(fit, np.shape(y_train)[0], budget)}
            return dataclasses.replace(result, settings=_recorded(settings), extras=extras)
        except Exception as error:
            return failed_trial(params, seed, error, time.perf_counter() - started)

    return train_fn


def make_folds_train_fn(
    folds: Sequence[Fold],
    *,
    fixed_params: Mapping[str, Any] | None = None,
    n_threads: int | None = None,
    budget: RoundBudget | None = None,
) -> TrainFn:
    """``make_train_fn`` over each fold, the results merged into one trial per configuration
    (models.folds.merge_fold_results); with one fold, ``make_train_fn`` itself."""
    fns = [
        make_train_fn(
            f.X_train,
            f.y_train,
            f.X_val,
            f.y_val,
            fixed_params=fixed_params,
            n_threads=n_threads,
            budget=budget,
        )
        for f in folds
    ]
    if len(fns) == 1:
        return fns[0]
    sizes = [len(f.y_val) for f in folds]

    def train_fn(params: Mapping[str, Any], seed: int) -> TrialResult:
        return merge_fold_results([fn(params, seed) for fn in fns], sizes)

    return train_fn


def train_round_fused(
    trials: Sequence[tuple[Mapping[str, Any], int]],
    X_train: ArrayLike,
    y_train: ArrayLike,
    X_val: ArrayLike,
    y_val: ArrayLike,
    *,
    fixed_params: Mapping[str, Any] | None = None,
    n_threads: int | None = None,
    pruner: SuccessiveHalving | None = None,
    workers: int = 1,
    budget: RoundBudget | None = None,
) -> list[TrialResult]:
    """A round's ``(params, seed)`` trials as ``make_train_fn`` would train them one by one,
    the trials that share a structure stacked (models.fused), the weak ones stopped at the
    ``pruner``'s rungs (status ``pruned``). If the fused fit raises, each trial is trained
    alone and unpruned, so one bad trial fails only itself, as it would apart."""
    fixed = dict(fixed_params or {})
    extra = {} if n_threads is None else {"n_threads": n_threads}
    settings = [estimator_settings(fixed, params, seed, **extra) for params, seed in trials]
    fits = [_at_budget(s, budget) for s in settings]
    try:
        models = train_fused(fits, X_train, y_train, X_val, y_val, pruner=pruner, workers=workers)
    except Exception:
        train_fn = make_train_fn(
            X_train, y_train, X_val, y_val, fixed_params=fixed, n_threads=n_threads, budget=budget
        )
        return [train_fn(params, seed) for params, seed in trials]

    def score(
        trial: tuple[tuple[Mapping[str, Any], int], Mapping[str, Any], Mapping[str, Any], Any],
    ) -> TrialResult:
        (params, seed), recorded, fit, model = trial
        result = trial_from_classifier(
            model, X_val, y_val, params=params, seed=seed, seconds=model.train_seconds_
        )
        extras = {**result.extras, **fidelity_of(fit, np.shape(y_train)[0], budget)}
        return dataclasses.replace(result, settings=_recorded(recorded), extras=extras)

    with threads(workers) as map_:
        return list(map_(score, zip(trials, settings, fits, models, strict=True)))


RoundFn = Callable[[Sequence[Proposal]], list[TrialResult]]


def make_fused_round(
    X_train: ArrayLike,
    y_train: ArrayLike,
    X_val: ArrayLike,
    y_val: ArrayLike,
    *,
    fixed_params: Mapping[str, Any] | None = None,
    n_threads: int | None = None,
    pruner: SuccessiveHalving | None = None,
    workers: int = 1,
    budget: RoundBudget | None = None,
) -> RoundFn:
    """A round trainer for fused search rounds: proposals in, their stamped results out.

    The fused counterpart of ``make_train_fn``: one call trains the whole round in one
    process (a round is the unit that stacks and that successive halving compares), its
    structure groups on ``workers`` threads of ``n_threads`` torch threads each.
    """

    def train_round(proposals: Sequence[Proposal]) -> list[TrialResult]:
        results = train_round_fused(
            [(dict(p.params), p.seed) for p in proposals],
            X_train,
            y_train,
            X_val,
            y_val,
            fixed_params=fixed_params,
            n_threads=n_threads,
            pruner=pruner,
            workers=workers,
            budget=budget,
        )
        return [p.stamp(r) for p, r in zip(proposals, results, strict=True)]

    return train_round


def make_folds_round(
    folds: Sequence[Fold],
    *,
    fixed_params: Mapping[str, Any] | None = None,
    n_threads: int | None = None,
    pruner: SuccessiveHalving | None = None,
    workers: int = 1,
    budget: RoundBudget | None = None,
) -> RoundFn:
    """``make_fused_round`` over each fold, each trial's fold results merged into one
    (models.folds.merge_fold_results); with one fold, ``make_fused_round`` itself."""
    rounds = [
        make_fused_round(
            f.X_train,
            f.y_train,
            f.X_val,
            f.y_val,
            fixed_params=fixed_params,
            n_threads=n_threads,
            pruner=pruner,
            workers=workers,
            budget=budget,
        )
        for f in folds
    ]
    if len(rounds) == 1:
        return rounds[0]
    sizes = [len(f.y_val) for f in folds]

    def train_round(proposals: Sequence[Proposal]) -> list[TrialResult]:
        per_fold = [round_(proposals) for round_ in rounds]
        return [merge_fold_results(list(trial), sizes) for trial in zip(*per_fold, strict=True)]

    return train_round


def train_missing(
    train_round: RoundFn, proposals: Sequence[Proposal], completed: Mapping[int, TrialResult]
) -> list[TrialResult]:
    """The results of ``proposals`` as their whole round gives them, on resuming a round.

    A killed search may have logged part of a round. Successive halving ranks a round whole,
    so the missing trials are trained beside their logged peers again (rebuilt from their
    records), as the uninterrupted round trained them; only the missing results are kept.
    """
    wanted = {p.index for p in proposals}
    rounds = {p.round for p in proposals}
    peers = [
        Proposal(r.index, r.round, r.params, r.seed)
        for r in completed.values()
        if r.round in rounds and r.index not in wanted
    ]
    whole = sorted([*proposals, *peers], key=lambda p: p.index)
    trained = {r.index: r for r in train_round(whole)}
    return [trained[p.index] for p in proposals]


def trial_from_classifier(
    model: BNSoftmaxClassifier,
    X_val: ArrayLike,
    y_val: ArrayLike,
    *,
    params: Mapping[str, Any],
    seed: int,
    seconds: float,
) -> TrialResult:
    """A fitted classifier's TrialResult: validation accuracy and log-loss, epochs, curves."""
    metrics = {"epochs": float(model.n_epochs_), "train_seconds": float(model.train_seconds_)}
    curves = model.history_.to_dict()
    if model.status_ == "diverged":
        why = getattr(model, "divergence_", "") or (
            f"epoch {model.n_epochs_}: the loss became NaN or inf, or rose above the untrained "
            "model's"
        )
        return TrialResult(
            params=params,
            seed=seed,
            status="diverged",
            metrics=metrics,
            curves=curves,
            duration_s=seconds,
            error=f"training diverged at {why}",
        )
    y_true = np.asarray(y_val)
    proba = model.predict_proba(X_val)
    predicted = model.classes_[np.argmax(proba, axis=1)]
    metrics["val_accuracy"] = float(accuracy_score(y_true, predicted))
    metrics["val_log_loss"] = float(log_loss(y_true, proba, labels=model.classes_))
    pruned = model.stop_reason_ == "pruned"  # scored on its best weights so far, like any stop
    return TrialResult(
        params=params,
        seed=seed,
        status="pruned" if pruned else "ok",
        metrics=metrics,
        curves=curves,
        duration_s=seconds,
        error=(getattr(model, "stop_detail_", "") or f"pruned after epoch {model.n_epochs_}")
        if pruned
        else "",
        predictions=proba,
    )
