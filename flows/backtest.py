"""@flow backtest: replay a dataset's batches in time order through the real flows.

Tune on the first N batches; then for each later batch, score it with the current champion (and
with the baselines, refit on the batch before) before the flows see it, land it, and run
check-drift as production would: drift starts a retune and the gate decides. Everything happens
in a scratch project of its own (flows/backtesting/scratch.py), so the user's store and champion are
never touched. This is how a user picks settings before going live: change the config, rerun,
compare the means.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger
from pydantic import BaseModel, ConfigDict, Field

from data.errors import ConfigError, DriftuneError
from data.lineage import frame_sha256
from data.loading import Batch, batches
from flows.backtesting.report import log_backtest_run, summarise, write_json
from flows.backtesting.scoring import (
    BASELINES,
    BaselineFit,
    BatchScores,
    Versions,
    baseline_fits,
    score_batch,
)
from flows.backtesting.scratch import Journal, ScratchProject, fingerprint, open_scratch
from flows.check_drift import DriftCheckRequest, check_drift
from flows.cli import progress
from flows.config import ProjectConfig, load_config
from flows.cores import threads_per_trial
from flows.outcomes import DriftCheckOutcome, RetuneOutcome, RetuneRefused
from flows.retune import RetuneRequest, retune
from flows.store.handle import Store
from flows.store.project import open_store
from flows.store.registry import champion

DEFAULT_BASELINES = ("fixed_refit", "hist_gradient_boosting")


class BacktestRequest(BaseModel):
    """Which project to replay, from which batch on, where, against which baselines."""

    model_config = ConfigDict(extra="forbid")

    config_path: str
    first: int = Field(1, ge=1, description="tune on the first N batches")
    out: str | None = Field(None, description="scratch folder (<project>/.driftune/backtest)")
    baselines: tuple[str, ...] = DEFAULT_BASELINES
    search_trials: int = Field(24, ge=1, description="trials of the random_search baseline")
    seed: int | None = Field(
        None, description="the baselines' seed; None: search.seed, so each seed meets its own"
    )
    fresh: bool = Field(False, description="start over instead of resuming")
    start_retune: bool = Field(True, description="False: check only (false-alarm controls)")


@flow(name="backtest", log_prints=False)
def backtest(request: BacktestRequest) -> dict[str, Any]:
    """Replay the batches; return (and write as backtest.json) every row and the means."""
    config = load_config(request.config_path)
    _check_baselines(request.baselines)
    ordered = list(batches(config.spec()))
    _check_first(request.first, ordered, config)
    settings = _settings(request, config)
    stamp = fingerprint(config, _data_sha256(ordered), settings)
    out = Path(request.out) if request.out else config.root / ".driftune" / "backtest"
    scratch, journal = open_scratch(config, out, stamp, fresh=request.fresh)
    store = open_store(load_config(scratch.config_path), create=True)
    # The first tune is a step like each replayed batch: the count is known before either runs.
    total = 1 + len(ordered) - request.first
    done = (journal.find("tuned") is not None) + sum(1 for _ in journal.rows())
    progress.report_step(done, total, "starting" if done == 0 else "resumed")
    tuned = _first_tune(scratch, ordered[: request.first], journal, store, config)
    progress.report_step(1 + sum(1 for _ in journal.rows()), total, f"first tune: {_told(tuned)}")
    fits = baseline_fits(
        config,
        request.baselines,
        seed=_baseline_seed(request, config),
        search_trials=request.search_trials,
    )
    for k in range(request.first, len(ordered)):
        if journal.find("row", k) is None:
            row = _replay_batch(k, ordered, scratch, journal, fits, tuned["version"], request)
            journal.append({"step": "row", "batch_index": k, "row": row})
            progress.report_step(
                2 + k - request.first, total, f"{ordered[k].id}: {row['decision']}"
            )
    rows = list(journal.rows())
    result = {
        "settings": settings,
        "first_tune": tuned,
        "rows": rows,
        "summary": summarise(rows),
        "out": str(out),
    }
    result["mlflow_run_id"] = log_backtest_run(store, scratch.name, result)
    result["tracking_uri"] = store.tracking_uri
    write_json(scratch.root / "backtest.json", result)
    return result


def _check_baselines(names: tuple[str, ...]) -> None:
    unknown = sorted(set(names) - set(BASELINES))
    if unknown:
        raise ConfigError(f"--baseline: unknown {unknown}; known: {list(BASELINES)}")


def _check_first(first: int, ordered: list[Batch], config: ProjectConfig) -> None:
    if first >= len(ordered):
        raise ConfigError(
            f"{config.dataset.path}: {len(ordered)} batch(es) with dataset.every="
            f"{config.dataset.every!r}; a backtest tuning on the first {first} needs at least "
            f"{first + 1} (lower --first or batch more finely)"
        )


def _settings(request: BacktestRequest, config: ProjectConfig) -> dict[str, Any]:
    return {
        "project": config.name,
        "first": request.first,
        "baselines": list(request.baselines),
        "search_trials": request.search_trials,
        "seed": _baseline_seed(request, config),
        "torch_threads": threads_per_trial(config),
        "start_retune": request.start_retune,
        "config": config.model_dump(mode="json", exclude={"root"}),
    }


def _baseline_seed(request: BacktestRequest, config: ProjectConfig) -> int:
    return config.search.seed if request.seed is None else request.seed


def _data_sha256(ordered: list[Batch]) -> str:
    """Every batch's content hash in order: the replayed data, exactly."""
    return ",".join(frame_sha256(batch.frame)[:16] for batch in ordered)


def _first_tune(
    scratch: ScratchProject,
    first: list[Batch],
    journal: Journal,
    store: Store,
    config: ProjectConfig,
) -> dict[str, Any]:
    """Land the first batches and tune on them: the version it promotes is never retrained.

    Returns the table's first row: the batches, their rows, the version and the seconds taken.
    """
    done = journal.find("tuned")
    if done is not None:
        return _tuned_row(done, first, config)
    started = time.perf_counter()
    existing = champion(store)  # killed after the tune promoted, before the journal
    if existing is None:
        for index, batch in enumerate(first):
            scratch.land(index, batch)
        progress.report_activity(f"first tune on {', '.join(b.id for b in first)}")
        retune(RetuneRequest(config_path=str(scratch.config_path), trigger="manual"))
        existing = champion(store)
    if existing is None:
        raise DriftuneError("the first tune of the backtest promoted no champion")
    seconds = round(time.perf_counter() - started, 1)
    entry = {"step": "tuned", "version": existing.version, "seconds": seconds}
    journal.append(entry)
    return _tuned_row(entry, first, config)


def _tuned_row(entry: dict[str, Any], first: list[Batch], config: ProjectConfig) -> dict[str, Any]:
    return {
        "batches": [batch_label(batch, config) for batch in first],
        "rows": sum(len(batch.frame) for batch in first),
        "version": str(entry["version"]),
        "seconds": entry.get("seconds"),
    }


def _told(tuned: dict[str, Any]) -> str:
    return (
        f"v{tuned['version']} in {tuned['seconds']} s"
        if tuned["seconds"]
        else f"v{tuned['version']}"
    )


def _replay_batch(
    k: int,
    ordered: list[Batch],
    scratch: ScratchProject,
    journal: Journal,
    fits: dict[str, BaselineFit],
    first_version: str,
    request: BacktestRequest,
) -> dict[str, Any]:
    """Score batch ``k`` with every policy, then let the flows see it; the batch's row."""
    started = time.perf_counter()
    config = load_config(request.config_path)
    store = open_store(load_config(scratch.config_path), create=True)
    recorded = journal.find("scores", k)
    if recorded is None:
        versions = _versions(store, journal, k, first_version)
        scores = score_batch(store, config.spec(), ordered[k], ordered[k - 1], versions, fits)
        journal.append({"step": "scores", "batch_index": k, "scores": scores.to_dict()})
    else:
        scores = BatchScores.from_dict(recorded["scores"])
    scratch.land(k, ordered[k])
    progress.report_activity(f"{ordered[k].id}: check-drift")
    outcome, error = _check(scratch, request.start_retune)
    row = _row(ordered[k], config, scores, outcome, error, time.perf_counter() - started)
    get_run_logger().info("batch %s: %s", ordered[k].id, row["decision"])
    return row


def _versions(store: Store, journal: Journal, k: int, first_version: str) -> Versions:
    """The champion now and, when a promotion happened since the last batch, the one replaced."""
    now = champion(store)
    if now is None:
        raise DriftuneError("the backtest's scratch project lost its champion")
    before = journal.find("scores", k - 1)
    replaced = None
    if before is not None and before["scores"]["champion_version"] != now.version:
        replaced = str(before["scores"]["champion_version"])
    return Versions(champion=now.version, first=first_version, replaced=replaced)


def _check(scratch: ScratchProject, start_retune: bool) -> tuple[DriftCheckOutcome | None, str]:
    """check-drift on the scratch project, or why it failed: part of the story, not its end."""
    request = DriftCheckRequest(config_path=str(scratch.config_path), start_retune=start_retune)
    try:
        return check_drift(request), ""
    except DriftuneError as error:
        return None, str(error)


def _row(
    batch: Batch,
    config: ProjectConfig,
    scores: BatchScores,
    outcome: DriftCheckOutcome | None,
    error: str,
    seconds: float,
) -> dict[str, Any]:
    report = None if outcome is None else outcome.report
    retuned = None if outcome is None else outcome.retune
    performance = getattr(report, "performance", None)
    if outcome is None:
        drift = "failed"
    else:
        drift = (
            ("drift" if outcome.drifted else "no drift")
            if outcome.status == "checked"
            else outcome.status
        )
    effect = None
    if scores.replaced_accuracy is not None:
        effect = scores.accuracy["driftune"] - scores.replaced_accuracy
    return {
        "batch": batch_label(batch, config),
        "batch_id": batch.id,
        "rows": scores.rows,
        "champion_version": scores.champion_version,
        "accuracy": dict(scores.accuracy),
        "replaced_version": scores.replaced_version,
        "promotion_effect": effect,
        "drift": drift,
        "drifted_features": list(getattr(report, "drifted_features", ()))[:3],
        "accuracy_drop": bool(performance and performance.drifted),
        "retune": None if retuned is None else _retune_kind(retuned),
        "decision": "failed" if outcome is None else _decision(retuned),
        "reason": error or _reason(retuned),
        "seconds": round(seconds, 1),
    }


def batch_label(batch: Batch, config: ProjectConfig) -> str:
    """A calendar period's batch by its first timestamp, the data's own (a "YS" batch of rows
    dated July 1 reads 2016-07-01, not the period's 2016-01-01); any other batch by its id."""
    column, every = config.dataset.time, config.dataset.every
    if column is None or every == "file" or isinstance(every, int):
        return batch.id
    first = pd.Timestamp(batch.frame[column].min())
    return first.isoformat(sep=" ") if first != first.normalize() else first.date().isoformat()


def _retune_kind(retuned: RetuneOutcome | RetuneRefused) -> str:
    return "busy" if isinstance(retuned, RetuneRefused) else "drift"


def _decision(retuned: RetuneOutcome | RetuneRefused | None) -> str:
    if retuned is None:
        return "-"
    if isinstance(retuned, RetuneRefused):
        return "busy"
    return f"{'promoted' if retuned.promoted else 'refused'} v{retuned.version}"


def _reason(retuned: RetuneOutcome | RetuneRefused | None) -> str:
    if retuned is None:
        return ""
    return retuned.refused if isinstance(retuned, RetuneRefused) else retuned.reason
