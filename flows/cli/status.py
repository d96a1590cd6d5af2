"""What `driftune status` shows: the champion, recent drift checks and searches, the audit trail.

A handful of targeted reads (the registered model, the champion's version, the newest few runs of
each experiment) and nothing that loads a model: the registry module brings the model loader
(torch, scikit-learn), which a status line never needs. Only an alias move a crash left half done
loads it, to finish that move first, as every registry read does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlflow.exceptions import MlflowException

from flows.store.audit import AuditRecord
from flows.store.handle import Store

RECENT = 5
RECENT_AUDIT = 10
# The registry's names (flows/store/registry.py), read here without importing it.
CHAMPION, PREVIOUS = "champion", "previous-champion"
PENDING_TAG = "driftune.promotion_pending"
METRIC_PREFIX = "holdout."
SEARCH_TAGS = ("trigger", "strategy", "best_trial_index", "failure_reason")


@dataclass(frozen=True)
class ChampionSummary:
    version: str
    holdout_metrics: Mapping[str, float]
    previous_version: str | None
    data_sha256: str
    fit: str = ""  # how the version's model was fitted: one trial's refit, or an ensemble's


@dataclass(frozen=True)
class ProjectStatus:
    champion: ChampionSummary | None
    checks: list[dict[str, Any]]
    searches: list[dict[str, Any]]
    audit: list[AuditRecord]  # the newest RECENT_AUDIT events, oldest first


def project_status(store: Store) -> ProjectStatus:
    return ProjectStatus(
        champion=read_champion(store),
        checks=_recent(store, "monitoring", ("batch_id", "verdict", "drifted_features")),
        searches=_recent(store, "search", SEARCH_TAGS),
        audit=recent_audit(store),
    )


def read_champion(store: Store) -> ChampionSummary | None:
    """The champion from the registered model's aliases and its version's tags (two reads)."""
    client, name = store.client, store.name
    try:
        model = client.get_registered_model(name)
    except MlflowException as error:
        if error.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise
    if PENDING_TAG in model.tags:  # a move a crash interrupted: finish it, then read again
        from flows.store.registry import repair

        repair(store)
        model = client.get_registered_model(name)
    aliases = {alias: str(version) for alias, version in model.aliases.items()}
    version = aliases.get(CHAMPION)
    if version is None:
        return None
    tags = client.get_model_version(name, version).tags
    return ChampionSummary(
        version=version,
        holdout_metrics={
            key.removeprefix(METRIC_PREFIX): _number(key, value)
            for key, value in tags.items()
            if key.startswith(METRIC_PREFIX)
        },
        previous_version=aliases.get(PREVIOUS),
        data_sha256=tags.get("data_sha256", ""),
        fit=tags.get("fit", ""),
    )


def _number(key: str, value: str) -> float:
    """A count (``holdout.holdout_rows``) as an int, so text and JSON print 17196, not 17196.0."""
    number = float(value)
    return int(number) if key.endswith("rows") and number.is_integer() else number


def _recent(store: Store, kind: str, tags: tuple[str, ...]) -> list[dict[str, Any]]:
    experiment = store.client.get_experiment_by_name(store.experiment_name(kind))
    if experiment is None:  # nothing logged yet; status reads, it never creates
        return []
    runs = store.client.search_runs(
        [experiment.experiment_id],
        filter_string="tags.`driftune.kind` = 'search'" if kind == "search" else "",
        order_by=["attributes.start_time DESC"],
        max_results=RECENT,
    )
    return [
        {
            "run_id": run.info.run_id,
            "started": run.info.start_time,
            "status": run.info.status,
            **{tag: run.data.tags.get(tag, "") for tag in tags},
            **{k: v for k, v in run.data.metrics.items() if k in ("n_trials", "best_val_accuracy")},
        }
        for run in runs
    ]


def recent_audit(store: Store) -> list[AuditRecord]:
    """The newest registry events, oldest first, each once (as flows.store.audit.list_audit)."""
    experiment = store.client.get_experiment_by_name(store.experiment_name("registry"))
    if experiment is None:
        return []
    runs = store.client.search_runs(
        [experiment.experiment_id],
        order_by=["attributes.start_time DESC"],
        max_results=2 * RECENT_AUDIT,  # a repair that raced the original logs an event twice
    )
    records: dict[str, tuple[int, AuditRecord]] = {}
    for run in runs:
        raw = run.data.tags.get("record")
        if raw is not None:
            record = AuditRecord(**json.loads(raw))
            order = int(run.data.tags.get("event_ns", "0"))
            records.setdefault(record.event_id, (order, record))
    ordered = [record for _, record in sorted(records.values(), key=lambda item: item[0])]
    return ordered[-RECENT_AUDIT:]
