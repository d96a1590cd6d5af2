"""The registry's audit trail: one run per promotion, refusal or rollback in ``<name>-registry``.

A run per event makes the trail visible in the MLflow UI (who, why, the versions as tags; the
compared metrics as metrics) and queryable; the whole record rides along as the ``record`` tag so
``list_audit`` rebuilds it exactly. Events are ordered by their nanosecond timestamp and
deduplicated by event id, so a move finished twice (by a repair racing the original) lists once.
"""

from __future__ import annotations

import getpass
import json
import math
import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from mlflow.entities import Metric

from flows.store.handle import Store
from flows.store.trials import all_runs

REASON_CHARS = 2000


@dataclass(frozen=True)
class AuditRecord:
    """One registry event: ``promote``, ``refuse`` or ``rollback``.

    ``version`` is the version the event is about (the new champion, the refused challenger,
    the restored champion); ``previous`` the champion before it. ``metrics`` holds the compared
    numbers: the challenger's and champion's holdout metric, the gain with its interval and the
    probability that the challenger is better.
    """

    event: str
    version: str
    previous: str | None
    reason: str
    metric: str = ""
    metrics: Mapping[str, float] = field(default_factory=dict)
    who: str = ""
    when: str = ""
    event_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "metrics": dict(self.metrics)}


def list_audit(store: Store) -> list[AuditRecord]:
    """Every promotion, refusal and rollback, oldest first."""
    found = store.client.get_experiment_by_name(store.experiment_name("registry"))
    if found is None:
        return []
    runs = all_runs(store.client, [found.experiment_id], "")
    records: dict[str, tuple[int, AuditRecord]] = {}
    for run in runs:
        raw = run.data.tags.get("record")
        if raw is None:
            continue
        data = json.loads(raw)
        record = AuditRecord(**data)
        order = int(run.data.tags.get("event_ns", "0"))
        records.setdefault(record.event_id, (order, record))
    return [record for _, record in sorted(records.values(), key=lambda item: item[0])]


def write_audit(store: Store, record: AuditRecord) -> None:
    client, experiment_id = store.client, store.experiment_id("registry")
    tags = {
        "driftune.kind": "audit",
        "event": record.event,
        "version": record.version,
        "previous": record.previous or "",
        "who": record.who,
        "reason": record.reason,
        "event_id": record.event_id,
        "event_ns": str(time.time_ns()),
        "record": json.dumps(record.to_dict()),  # reason capped: well under 8,000 chars
        "mlflow.note.content": _description(record),
    }
    name = f"{record.event}-v{record.version}"
    run_id = client.create_run(experiment_id, run_name=name, tags=tags).info.run_id
    now = int(time.time() * 1000)
    finite = {k: v for k, v in record.metrics.items() if math.isfinite(v)}
    client.log_batch(run_id, metrics=[Metric(k, v, now, 0) for k, v in finite.items()])
    client.set_terminated(run_id, "FINISHED")


def _description(record: AuditRecord) -> str:
    """The event in one line, atop the run in the MLflow UI."""
    before = f" (champion before: version {record.previous})" if record.previous else ""
    return f"**{record.event}** version {record.version} by {record.who}{before}: {record.reason}"


def audit_exists(store: Store, event_id: str) -> bool:
    return find_audit(store, event_id) is not None


def find_audit(store: Store, event_id: str) -> AuditRecord | None:
    """The record with ``event_id``, when one was written."""
    found = store.client.get_experiment_by_name(store.experiment_name("registry"))
    if found is None:
        return None
    runs = all_runs(store.client, [found.experiment_id], f"tags.event_id = '{event_id}'")
    raw = runs[0].data.tags.get("record") if runs else None
    return None if raw is None else AuditRecord(**json.loads(raw))


def new_record(
    event: str,
    version: str,
    previous: str | None,
    reason: str,
    metric: str,
    metrics: Mapping[str, float],
    who: str | None,
    event_id: str | None = None,
) -> AuditRecord:
    """A record for one event; ``event_id`` makes a retried event's record the same one."""
    return AuditRecord(
        event=event,
        version=version,
        previous=previous,
        reason=reason[:REASON_CHARS],
        metric=metric,
        metrics=dict(metrics),
        who=who or current_user(),
        when=datetime.now(UTC).isoformat(timespec="seconds"),
        event_id=event_id or uuid.uuid4().hex,
    )


def current_user() -> str:
    try:
        return os.environ.get("DRIFTUNE_USER") or getpass.getuser()
    except (KeyError, OSError):  # no user name in a bare container
        return "unknown"
