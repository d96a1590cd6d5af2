"""What flows tell people: summaries they return and Prefect artifacts shown in the Prefect UI."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact

from data.drift.report import DriftReport
from flows.gate import GateOutcome
from flows.outages import as_outage
from flows.store.drift_checks import drift_markdown
from models.search.trials import TrialResult, ranked

LEADERBOARD_ROWS = 10


def leaderboard_markdown(
    results: Sequence[TrialResult], verdict: GateOutcome, fit: str = ""
) -> str:
    """The promotion decision and the top trials; the search run's description in MLflow too."""
    lines = [
        f"### Promotion: {'promoted' if verdict.decision.promote else 'refused'} "
        f"(version {verdict.version})",
        "",
        verdict.decision.reason,
        "",
        *([f"Candidate: {fit}.", ""] if fit else []),
        "| rank | round | val accuracy | val log-loss | learning rate | momentum | layers | units "
        "| batch |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for rank, trial in enumerate(ranked(results)[:LEADERBOARD_ROWS], start=1):
        p, m = trial.params, trial.metrics
        lines.append(
            f"| {rank} | {trial.round} | {_num(m.get('val_accuracy'))} | "
            f"{_num(m.get('val_log_loss'))} | {_num(p.get('learning_rate'), '.2e')} | "
            f"{_num(p.get('momentum'), '.4f')} | {p.get('n_layers', '')} | "
            f"{p.get('hidden_units', '')} | {p.get('batch_size', '')} |"
        )
    failed = [t for t in results if t.broken]
    if failed:
        lines += ["", f"{len(failed)} trial(s) diverged or failed; first: {failed[0].error}"]
    pruned = sum(t.status == "pruned" for t in results)
    if pruned:
        lines += ["", f"{pruned} trial(s) pruned by successive halving (stopped early, ranked low)"]
    return "\n".join(lines)


def publish_leaderboard(project: str, markdown: str) -> None:
    _publish(
        markdown,
        key=_key(f"{project}-leaderboard"),
        description=f"{project}: search leaderboard and promotion decision",
    )


def publish_drift(project: str, batch_id: str, report: DriftReport, drifted: bool) -> None:
    """``drifted`` is the check's verdict, which an accuracy drop alone can set."""
    _publish(
        drift_markdown(batch_id, report, drifted),
        key=_key(f"{project}-drift"),
        description=f"{project}: drift check",
    )


def _publish(markdown: str, *, key: str, description: str) -> None:
    """A Prefect artifact; a Prefect API outage costs the artifact, never the flow's outcome.

    The artifact repeats what MLflow records already (the run's description), and by the time
    it is published the verdict has been carried out: failing the flow then would report a
    retune that happened as one that did not, and a scheduler would run it again.
    """
    try:
        create_markdown_artifact(markdown, key=key, description=description)
    except Exception as error:
        if as_outage(error, "") is None:
            raise
        get_run_logger().warning("the Prefect artifact %s was not published: %s", key, error)


def _key(text: str) -> str:
    # Prefect artifact keys allow lowercase letters, digits and dashes only.
    return "".join(c if c.isalnum() else "-" for c in text.lower())


def _num(value: Any, spec: str = ".3f") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return format(value, spec)
