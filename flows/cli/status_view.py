"""Rendering `driftune status` as rich tables, or as data for `--json`."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table

from flows.cli.status import RECENT_AUDIT, project_status
from flows.config import ProjectConfig
from flows.store.project import open_store


def status_document(config: ProjectConfig) -> dict[str, object]:
    """What `status --json` prints: the same reads as the tables, as data."""
    store = open_store(config)
    return {
        "name": config.name,
        "store": store.tracking_uri,
        **vars(project_status(store)),
    }


def show_status(console: Console, config: ProjectConfig) -> None:
    store = open_store(config)
    status = project_status(store)
    console.print(f"[bold]{config.name}[/]  store: {store.tracking_uri}")
    champion = status.champion
    if champion is None:
        console.print("no champion yet: run `driftune tune`")
    else:
        metrics = ", ".join(
            f"{k} {v:.0f}" if k == "holdout_rows" else f"{k} {v:.3f}"
            for k, v in champion.holdout_metrics.items()
        )
        console.print(
            f"champion: version {champion.version} ({metrics}); previous-champion: "
            f"{champion.previous_version or '-'}; data sha256 {champion.data_sha256[:12]}"
        )
        if champion.fit:
            console.print(f"  model: {champion.fit}")
    checks = _table("recent drift checks", "when", "batch", "verdict", "drifted features")
    for check in status.checks:
        checks.add_row(
            _when(check["started"]),
            check["batch_id"],
            check["verdict"],
            check["drifted_features"] or "-",
        )
    searches = _table(
        "recent searches", "when", "trigger", "strategy", "status", "trials", "best val acc", "why"
    )
    for search in status.searches:
        best = search.get("best_val_accuracy")
        searches.add_row(
            _when(search["started"]),
            search["trigger"],
            search["strategy"],
            search["status"],
            f"{search.get('n_trials', 0):.0f}",
            "-" if best is None or math.isnan(best) else f"{best:.3f}",
            _clip(search.get("failure_reason") or "-"),
        )
    audit = _table(
        f"audit trail (the latest {RECENT_AUDIT}, oldest first)",
        *("when", "event", "version", "previous", "who", "why"),
    )
    for record in status.audit:
        audit.add_row(
            record.when,
            record.event,
            record.version,
            record.previous or "-",
            record.who,
            record.reason,
        )
    console.print(checks, searches, audit)


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def _when(millis: int | None) -> str:
    if not millis:
        return "-"
    return datetime.fromtimestamp(millis / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _clip(text: str, width: int = 90) -> str:
    """A failure reason can list five trials' errors; the MLflow run keeps it whole."""
    return text if len(text) <= width else text[: width - 1] + "…"
