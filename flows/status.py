"""What `driftune status` shows: the champion, recent drift checks and searches, the audit trail."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlflow import MlflowClient

from flows.audit import AuditRecord, list_audit
from flows.registry import ChampionInfo, champion
from flows.tracking import TrackingConfig, ensure_experiment

RECENT = 5


@dataclass(frozen=True)
class ProjectStatus:
    champion: ChampionInfo | None
    checks: list[dict[str, Any]]
    searches: list[dict[str, Any]]
    audit: list[AuditRecord]


def project_status(client: MlflowClient, tracking: TrackingConfig) -> ProjectStatus:
    return ProjectStatus(
        champion=champion(client, tracking),
        checks=_recent(client, tracking, "monitoring", ("batch_id", "verdict", "drifted_features")),
        searches=_recent(client, tracking, "search", SEARCH_TAGS),
        audit=list_audit(client, tracking),
    )


SEARCH_TAGS = ("trigger", "strategy", "best_trial_index", "failure_reason")


def _recent(
    client: MlflowClient, tracking: TrackingConfig, kind: str, tags: tuple[str, ...]
) -> list[dict[str, Any]]:
    experiment_id = ensure_experiment(client, tracking, kind)
    runs = client.search_runs(
        [experiment_id],
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
