"""The model registry: candidates, the ``champion`` and ``previous-champion`` aliases, the audit.

Registered model ``<name>`` holds every candidate as a version, tagged with its search run, its
holdout metrics and its data hash. Every promotion, refusal and rollback appends an audit record
(who, when, why, the compared metrics, the versions) as one run in experiment ``<name>-registry``.

Moving two aliases is two writes, and a crash can fall between them. So every move first writes
its whole intent (the ordered alias steps and the audit record) to the registered model's tag
``driftune.promotion_pending``, then makes the steps, then writes the audit record, then clears
the tag. The steps are ordered so that the state between them has both aliases on one version:
detectable even without the tag. Every call here first repairs a pending intent by replaying it
(each step is idempotent, the audit record is written once by its event id): the decision was
taken and recorded, so finishing it is always right. Registry writes expect one writer at a time
(the retune flow holds a Prefect concurrency limit); a concurrent reader that repairs a move in
flight repeats the same idempotent steps.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlflow import MlflowClient
from mlflow.entities.model_registry import RegisteredModel
from mlflow.exceptions import MlflowException

from data.errors import DriftuneError
from flows import failpoints
from flows.store.audit import AuditRecord, audit_exists, new_record, write_audit
from flows.store.audit import find_audit as find_audit  # re-exported: a retried gate's record
from flows.store.audit import list_audit as list_audit  # re-exported: the registry's history
from flows.store.handle import Store
from flows.store.packaging import LoggedModelRef, Scorer, load_scorer
from models.promotion import PromotionDecision

CHAMPION, PREVIOUS = "champion", "previous-champion"
PENDING_TAG = "driftune.promotion_pending"
METRIC_PREFIX = "holdout."
MODEL_VERSIONS_TAG = "mlflow.modelVersions"
SHA256_PREFIX = "sha256."  # + an artifact file's name: its SHA-256, recorded at registration


class RegistryError(DriftuneError):
    """A registry operation that cannot go ahead; the aliases have not moved."""


class MissingMetricError(RegistryError):
    """The challenger lacks the holdout metric the gate compares."""


class ChallengerEvaluationError(RegistryError):
    """The challenger's holdout evaluation failed, so it cannot be compared."""


class NoChampionError(RegistryError):
    """The registered model has no champion (yet, or any more)."""


@dataclass(frozen=True)
class ChampionInfo:
    """The current champion: its version, lineage, holdout metrics and predecessor."""

    name: str
    version: str
    run_id: str
    source: str
    search_run_id: str
    data_sha256: str
    holdout_metrics: Mapping[str, float]
    previous_version: str | None
    tags: Mapping[str, str]


def register_candidate(
    store: Store,
    model: LoggedModelRef,
    *,
    search_run_id: str,
    data_sha256: str,
    holdout_metrics: Mapping[str, float] | None,
    evaluation_error: str = "",
    extra_tags: Mapping[str, str] | None = None,
) -> str:
    """Register a logged model as a new version of ``<name>``; returns the version number.

    Pass ``holdout_metrics=None`` with ``evaluation_error`` when the holdout evaluation failed:
    the version is kept for inspection, and promoting it raises ChallengerEvaluationError.
    """
    _ensure_registered_model(store.client, store.name)
    tags = {"search_run_id": search_run_id, "data_sha256": data_sha256}
    tags["evaluation"] = "failed" if evaluation_error or holdout_metrics is None else "ok"
    if evaluation_error:
        tags["evaluation_error"] = evaluation_error[:5000]
    for key, value in (holdout_metrics or {}).items():
        tags[METRIC_PREFIX + key] = repr(float(value))
    for file_name, digest in model.sha256.items():
        tags[SHA256_PREFIX + file_name] = digest
    tags.update(extra_tags or {})
    # The concrete artifact location, not models:/<id>: given that URI, MLflow's SQL registry
    # looks the logged model up through a client on the process-global tracking URI.
    created = store.client.create_model_version(
        store.name,
        model.artifact_location,
        run_id=model.run_id,
        tags=tags,
        model_id=model.model_id,
    )
    version = str(created.version)
    _link_logged_model(store.client, model.model_id, store.name, version)
    return version


def version_of_search(store: Store, search_run_id: str) -> str | None:
    """The version a search registered, if any (each search registers at most one)."""
    if _registered_model(store.client, store.name) is None:
        return None
    found = store.client.search_model_versions(
        f"name = '{store.name}' and run_id = '{search_run_id}'"
    )
    return str(min(int(v.version) for v in found)) if found else None


def _link_logged_model(client: MlflowClient, model_id: str, name: str, version: str) -> None:
    """Show the version on the logged model's page, as MLflow's own register_model does."""
    logged = client.get_logged_model(model_id)
    versions = json.loads(logged.tags.get(MODEL_VERSIONS_TAG, "[]"))
    versions.append({"name": name, "version": version})
    client.set_logged_model_tags(model_id, {MODEL_VERSIONS_TAG: json.dumps(versions)})


def promote(
    store: Store,
    version: str,
    reason: str,
    *,
    metric: str = "accuracy",
    decision: PromotionDecision | None = None,
    who: str | None = None,
    event_id: str | None = None,
) -> AuditRecord:
    """Make ``version`` the champion and the old champion ``previous-champion``."""
    if decision is not None and not decision.promote:
        raise RegistryError(f"the gate refused version {version}: {decision.reason}")
    metrics, current = _before_event(store, str(version), metric, decision)
    if current == str(version):
        raise RegistryError(f"version {version} of {store.name!r} is already the champion")
    record = new_record("promote", str(version), current, reason, metric, metrics, who, event_id)
    steps = ([[PREVIOUS, current]] if current else []) + [[CHAMPION, str(version)]]
    _move(store, steps, record)
    store.client.set_model_version_tag(store.name, str(version), "gate", "promoted")
    return record


def refuse(
    store: Store,
    version: str,
    reason: str,
    *,
    metric: str = "accuracy",
    decision: PromotionDecision | None = None,
    who: str | None = None,
    event_id: str | None = None,
) -> AuditRecord:
    """Record that ``version`` stays a candidate; no alias moves."""
    metrics, current = _before_event(store, str(version), metric, decision)
    record = new_record("refuse", str(version), current, reason, metric, metrics, who, event_id)
    write_audit(store, record)
    store.client.set_model_version_tag(store.name, str(version), "gate", "refused")
    return record


def _before_event(
    store: Store,
    version: str,
    metric: str,
    decision: PromotionDecision | None,
) -> tuple[dict[str, float], str | None]:
    """Finish any interrupted move, then the compared metrics and the current champion."""
    repair(store)
    metrics = _compared_metrics(store.client, store.name, version, metric, decision)
    return metrics, _aliases(store.client, store.name).get(CHAMPION)


def apply_decision(
    store: Store,
    version: str,
    decision: PromotionDecision,
    *,
    who: str | None = None,
    event_id: str | None = None,
) -> AuditRecord:
    """The gate's verdict carried out: promote or refuse, audited either way."""
    act = promote if decision.promote else refuse
    return act(
        store,
        version,
        decision.reason,
        metric=decision.metric,
        decision=decision,
        who=who,
        event_id=event_id,
    )


def rollback(store: Store, reason: str, *, who: str | None = None) -> AuditRecord:
    """Make ``previous-champion`` the champion again; the demoted version becomes previous."""
    repair(store)
    aliases = _aliases(store.client, store.name)
    restored, demoted = aliases.get(PREVIOUS), aliases.get(CHAMPION)
    if restored is None or demoted is None:
        raise NoChampionError(f"{store.name!r} has no previous champion to roll back to")
    metrics = {
        f"restored_{k}": v for k, v in _holdout(store.client, store.name, restored).items()
    } | {f"demoted_{k}": v for k, v in _holdout(store.client, store.name, demoted).items()}
    record = new_record("rollback", restored, demoted, reason, "", metrics, who)
    _move(store, [[CHAMPION, restored], [PREVIOUS, demoted]], record)
    return record


def champion(store: Store) -> ChampionInfo | None:
    """The champion's version and metadata, or None when there is none."""
    repair(store)
    aliases = _aliases(store.client, store.name)
    version = aliases.get(CHAMPION)
    if version is None:
        return None
    mv = store.client.get_model_version(store.name, version)
    return ChampionInfo(
        name=store.name,
        version=str(version),
        run_id=str(mv.run_id or ""),
        source=str(mv.source),
        search_run_id=mv.tags.get("search_run_id", ""),
        data_sha256=mv.tags.get("data_sha256", ""),
        holdout_metrics=_holdout(store.client, store.name, version),
        previous_version=aliases.get(PREVIOUS),
        tags=dict(mv.tags),
    )


def load_champion_model(store: Store) -> Scorer:
    """The champion read as data (``.predict(frame)``), its files checked against their SHA-256."""
    info = champion(store)
    if info is None:
        raise NoChampionError(f"{store.name!r} has no champion yet: run `driftune tune` first")
    return load_version_model(store, info.version)


def load_version_model(store: Store, version: str) -> Scorer:
    """A registered version read as data; its artifacts must match the SHA-256 on its tags."""
    tags = _model_version(store.client, store.name, version).tags
    sha256 = {
        key.removeprefix(SHA256_PREFIX): value
        for key, value in tags.items()
        if key.startswith(SHA256_PREFIX)
    }
    uri = str(store.client.get_model_version_download_uri(store.name, version))
    return load_scorer(store.client, uri, sha256, f"version {version} of {store.name!r}")


def repair(store: Store) -> bool:
    """Finish an alias move a crash interrupted; True when there was one to finish."""
    model = _registered_model(store.client, store.name)
    if model is None or PENDING_TAG not in model.tags:
        return False
    try:
        intent = json.loads(model.tags[PENDING_TAG])
        steps, record = intent["steps"], AuditRecord(**intent["record"])
    except (ValueError, KeyError, TypeError) as error:
        raise RegistryError(
            f"registered model {store.name!r} has an unreadable {PENDING_TAG} tag ({error}); "
            "set the aliases by hand, then delete the tag"
        ) from error
    _finish(store, steps, record)
    return True


def _move(store: Store, steps: list[list[Any]], record: AuditRecord) -> None:
    intent = json.dumps({"steps": steps, "record": record.to_dict()})
    store.client.set_registered_model_tag(store.name, PENDING_TAG, intent)
    failpoints.reached("mid-alias-move")
    _finish(store, steps, record)


def _finish(store: Store, steps: list[list[Any]], record: AuditRecord) -> None:
    for alias, version in steps:
        store.client.set_registered_model_alias(store.name, alias, str(version))
    failpoints.reached("after-alias-move")
    if not audit_exists(store, record.event_id):
        write_audit(store, record)
    store.client.delete_registered_model_tag(store.name, PENDING_TAG)


def _compared_metrics(
    client: MlflowClient,
    name: str,
    version: str,
    metric: str,
    decision: PromotionDecision | None,
) -> dict[str, float]:
    """The numbers an audit record shows; raises when the challenger cannot be compared."""
    mv = _model_version(client, name, version)
    if mv.tags.get("evaluation") == "failed":
        error = mv.tags.get("evaluation_error", "no error recorded")
        raise ChallengerEvaluationError(
            f"version {version} of {name!r} failed its holdout evaluation ({error}); "
            "the champion stays"
        )
    value = float(mv.tags.get(METRIC_PREFIX + metric, "nan"))
    if decision is not None:
        value = decision.challenger_score
    if not math.isfinite(value):
        raise MissingMetricError(
            f"version {version} of {name!r} has no finite holdout {metric!r}; the champion stays"
        )
    metrics = {f"challenger_{metric}": value}
    if decision is not None:
        low, high = decision.interval
        metrics.update(gain=decision.gain, gain_low=low, gain_high=high)
        metrics.update(probability=decision.probability, n_rows=float(decision.n_rows))
        if decision.champion_score is not None:
            metrics[f"champion_{metric}"] = decision.champion_score
    return metrics


def _holdout(client: MlflowClient, name: str, version: str) -> dict[str, float]:
    tags = _model_version(client, name, version).tags
    return {
        key.removeprefix(METRIC_PREFIX): float(value)
        for key, value in tags.items()
        if key.startswith(METRIC_PREFIX)
    }


def _model_version(client: MlflowClient, name: str, version: str) -> Any:
    try:
        return client.get_model_version(name, version)
    except MlflowException as error:
        raise RegistryError(f"{name!r} has no version {version}: {error.message}") from error


def _aliases(client: MlflowClient, name: str) -> dict[str, str]:
    model = _registered_model(client, name)
    return {} if model is None else {k: str(v) for k, v in model.aliases.items()}


def _registered_model(client: MlflowClient, name: str) -> RegisteredModel | None:
    try:
        return client.get_registered_model(name)
    except MlflowException as error:
        if error.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise


def _ensure_registered_model(client: MlflowClient, name: str) -> None:
    if _registered_model(client, name) is not None:
        return
    try:
        client.create_registered_model(name, description="driftune champions and candidates")
    except MlflowException as error:  # another process registered it first
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
