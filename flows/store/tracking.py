"""MLflow adapter: the store, experiments, search runs, their datasets and their summaries.

Every function takes an explicit client: a ``Store`` (flows/store/handle.py) where it works on
the project's experiments, a bare ``MlflowClient`` and run ids where a run names its experiment.
Nothing here uses MLflow's fluent API (``mlflow.start_run``, ``mlflow.log_*``): its tracking URI
is process-global and its active run thread-local, so trials logged from worker threads or other
processes would lose their parent. A client bound to a URI, and parents named by id, are correct
from any thread or process. Trial runs live in flows/store/trials.py, the search figures in
flows/store/figures.py.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import pandas as pd
from mlflow import MlflowClient
from mlflow.data.code_dataset_source import CodeDatasetSource
from mlflow.data.dataset_source import DatasetSource
from mlflow.data.pandas_dataset import PandasDataset
from mlflow.entities import DatasetInput, InputTag, Metric, Param, RunTag
from mlflow.exceptions import MlflowException

from data.lineage import frame_sha256
from flows.store.trials import (
    TrialSet,
    all_runs,
    as_trial_set,
    find_logged_trials,
    find_trial_run_id,
    log_trial,
    trial_key,
)
from models.search.trials import TRIAL_STATUSES, ranked

if TYPE_CHECKING:
    from flows.store.handle import Store

TRIGGERS = ("drift", "schedule", "manual")
DATASET_CONTEXTS = ("training", "validation", "holdout")
# MLflow's dataset digest column holds 36 characters: 32 hex digits of our full-content SHA-256
# fit there; the whole hash rides along as a tag on the dataset input and the run.
DIGEST_CHARS = 32


@dataclass(frozen=True)
class TrackingConfig:
    """Where MLflow keeps runs and artifacts, and the project name that names everything.

    ``tracking_uri`` is any MLflow store: ``sqlite:///...`` locally (never the deprecated file
    store), ``http://host:5000`` for a tracking server. ``artifact_location`` is the root under
    which each experiment gets its own folder; ``None`` lets a tracking server choose. ``name``
    gives the experiments ``<name>-search``, ``<name>-registry`` and the registered model.
    """

    tracking_uri: str
    artifact_location: str | None = None
    name: str = "driftune"

    def __post_init__(self) -> None:
        if not self.name or not self.tracking_uri:
            raise ValueError("TrackingConfig needs a tracking_uri and a project name")
        if urlparse(self.tracking_uri).scheme in ("", "file"):
            raise ValueError(
                f"tracking_uri {self.tracking_uri!r} is a file store, which MLflow deprecates: "
                "use sqlite:///path/to/mlflow.db or a tracking server URL"
            )

    @classmethod
    def local(cls, root: str | Path, name: str) -> TrackingConfig:
        """The default store: ``<root>/.driftune/mlflow.db`` with artifacts beside it."""
        folder = Path(root).resolve() / ".driftune"
        return cls(f"sqlite:///{folder / 'mlflow.db'}", (folder / "artifacts").as_uri(), name)

    def experiment_name(self, kind: str) -> str:
        return f"{self.name}-{kind}"


def make_client(config: TrackingConfig, *, create: bool = True) -> MlflowClient:
    """A client bound to the configured store (tracking and registry alike).

    A local SQLite store is made once, atomically, when missing and ``create``; otherwise a
    missing, read-only or half-migrated one is refused in one line (flows/store/local_store.py).
    It is switched to write-ahead logging: a commit then costs one sync instead of a rollback
    journal's several, which halves the time to log a trial, and readers no longer block the
    writer when trials log from several threads.
    """
    database = _sqlite_file(config)
    if database is not None:
        from flows.store.local_store import open_local_store

        if not database.exists():
            forget_cached_stores(config.tracking_uri)
        open_local_store(database, _local_artifacts(config), create=create)
    client = MlflowClient(tracking_uri=config.tracking_uri, registry_uri=config.tracking_uri)
    if database is not None:
        with closing(sqlite3.connect(database, timeout=30)) as connection:
            connection.execute("PRAGMA journal_mode=WAL")  # persistent; a no-op when set
    return client


def _local_artifacts(config: TrackingConfig) -> Path | None:
    location = config.artifact_location
    if location is None or not location.startswith("file://"):
        return None
    return Path(urlparse(location).path)


def forget_cached_stores(uri: str) -> None:
    """Drop what MLflow caches for ``uri`` for the life of the process (private MLflow API).

    MLflow keeps one SQLAlchemy engine per database URI, and store objects bound to it. When a
    project folder is deleted and made again in the same process (the demo does), that engine's
    pooled connections still read the deleted file. A missing database file means whatever is
    cached for its URI is stale; without these attributes (another MLflow) this does nothing.
    """
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as RegistryStore
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as TrackingStore
    from mlflow.tracking._model_registry.registry import ModelRegistryStoreRegistry
    from mlflow.tracking._tracking_service.registry import TrackingStoreRegistry

    for store in (TrackingStore, RegistryStore):
        engine = getattr(store, "_engine_map", {}).pop(uri, None)
        if engine is not None:
            engine.dispose()
    for registry in (TrackingStoreRegistry, ModelRegistryStoreRegistry):
        cache_clear = getattr(registry._get_store_with_resolved_uri, "cache_clear", None)
        if cache_clear is not None:
            cache_clear()


def prepare_local_store(config: TrackingConfig) -> None:
    """Create the folder a local SQLite store lives in; nothing for a server or other URIs."""
    database = _sqlite_file(config)
    if database is not None:
        database.parent.mkdir(parents=True, exist_ok=True)


def _sqlite_file(config: TrackingConfig) -> Path | None:
    if not config.tracking_uri.startswith("sqlite:///"):
        return None
    path = config.tracking_uri.removeprefix("sqlite:///")
    return None if path in ("", ":memory:") else Path(path)


# What each experiment holds, shown as its description in the MLflow UI.
EXPERIMENT_DESCRIPTIONS = {
    "search": (
        "One parent run per hyperparameter search (trigger, strategy, data lineage, figures); "
        "its trials are the nested child runs, failed and diverged ones included."
    ),
    "monitoring": "One run per drift check of a new batch against the champion's reference.",
    "registry": "One run per promotion, refusal or rollback: the audit trail of the champion.",
}


EXPERIMENT_KIND_TAG, CUSTOM_MODELS = "mlflow.experimentKind", "custom_model_development"


def ensure_experiment(store: Store, kind: str) -> str:
    """The id of experiment ``<name>-<kind>``, created (or restored from deletion) on demand.

    Asks the store each call; ``Store.experiment_id`` asks once per handle and remembers.
    """
    client, config = store.client, store.tracking
    name = config.experiment_name(kind)
    found = client.get_experiment_by_name(name)
    if found is None:
        location = f"{config.artifact_location}/{name}" if config.artifact_location else None
        description = EXPERIMENT_DESCRIPTIONS.get(kind)
        # MLflow 3's UI opens an experiment of unknown kind in its GenAI (traces) view; this
        # opens driftune's on their runs, where trials are compared.
        tags = {EXPERIMENT_KIND_TAG: CUSTOM_MODELS}
        if description:
            tags["mlflow.note.content"] = description
        try:
            return str(client.create_experiment(name, artifact_location=location, tags=tags))
        except MlflowException as error:  # another thread or process created it first
            if error.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            found = client.get_experiment_by_name(name)
            assert found is not None
    if found.lifecycle_stage == "deleted":
        client.restore_experiment(found.experiment_id)
    if EXPERIMENT_KIND_TAG not in found.tags:  # made before driftune set it
        client.set_experiment_tag(found.experiment_id, EXPERIMENT_KIND_TAG, CUSTOM_MODELS)
    return str(found.experiment_id)


def describe_run(client: MlflowClient, run_id: str, markdown: str) -> None:
    """Set the run's description, the markdown the MLflow UI shows at the top of the run."""
    client.set_tag(run_id, "mlflow.note.content", markdown)


def start_search_run(
    store: Store,
    *,
    trigger: str,
    strategy: str,
    seed: int,
    data_sha256: str,
    n_rows: int,
    time_range: tuple[Any, Any] | None,
    space_dict: Mapping[str, Any],
    drift_run_id: str | None = None,
    warm_start_run_id: str | None = None,
    run_name: str | None = None,
    extra_tags: Mapping[str, str] | None = None,
) -> str:
    """Open the parent run of one search in ``<name>-search``; returns its run id.

    ``extra_tags`` go on the run as it is created, with the lineage tags.
    """
    if trigger not in TRIGGERS:
        raise ValueError(f"trigger must be one of {TRIGGERS}, got {trigger!r}")
    first, last = time_range if time_range is not None else (None, None)
    tags = {
        "driftune.kind": "search",
        "trigger": trigger,
        "strategy": strategy,
        "seed": str(seed),
        "data_sha256": data_sha256,
        "n_rows": str(n_rows),
        "time_start": "" if first is None else str(first),
        "time_end": "" if last is None else str(last),
        "drift_run_id": drift_run_id or "",
        "warm_start_run_id": warm_start_run_id or "",
        **(extra_tags or {}),
    }
    client, experiment_id = store.client, store.experiment_id("search")
    name = run_name or f"search-{trigger}-{time.strftime('%Y%m%d-%H%M%S')}"
    run_id = str(client.create_run(experiment_id, run_name=name, tags=tags).info.run_id)
    params = [Param("trigger", trigger), Param("strategy", strategy), Param("seed", str(seed))]
    client.log_batch(run_id, params=params)
    client.log_dict(run_id, dict(space_dict), "search_space.json")
    return run_id


class _FileSource(DatasetSource):
    """A data file named by path: the ``local`` source MLflow's UI shows, with no lookup."""

    def __init__(self, uri: str) -> None:
        self.uri = uri

    @staticmethod
    def _get_source_type() -> str:
        return "local"

    def load(self, **kwargs: Any) -> str:
        return self.uri

    @staticmethod
    def _can_resolve(raw_source: Any) -> bool:
        return False

    @classmethod
    def _resolve(cls, raw_source: Any) -> _FileSource:
        return cls(str(raw_source))

    def to_dict(self) -> dict[str, Any]:
        return {"uri": self.uri}

    @classmethod
    def from_dict(cls, source_dict: dict[Any, Any]) -> _FileSource:
        return cls(str(source_dict["uri"]))


def log_datasets(
    client: MlflowClient,
    run_id: str,
    frames: Mapping[str, pd.DataFrame],
    *,
    label: str | None,
    source: str | Path | None = None,
    name: str = "data",
) -> dict[str, str]:
    """Log each split as a dataset input with its context; returns context -> full SHA-256.

    ``frames`` maps a context (training, validation, holdout) to its rows. The digest MLflow
    shows is our full-content hash, cut to fit its column, not MLflow's 10,000-row sample.
    """
    unknown = set(frames) - set(DATASET_CONTEXTS)
    if unknown:
        raise ValueError(
            f"dataset contexts must be among {DATASET_CONTEXTS}, got {sorted(unknown)}"
        )
    origin = _FileSource(str(source)) if source else CodeDatasetSource({"driftune": "in-memory"})
    inputs, hashes = [], {}
    for context, frame in frames.items():
        sha = hashes[context] = frame_sha256(frame)
        dataset = PandasDataset(
            frame,
            source=origin,
            targets=label if label in frame.columns else None,
            name=f"{name}-{context}",
            digest=sha[:DIGEST_CHARS],
        )
        tags = [InputTag("mlflow.data.context", context), InputTag("driftune.sha256", sha)]
        inputs.append(DatasetInput(dataset._to_mlflow_entity(), tags))
    client.log_inputs(run_id, datasets=inputs)
    return hashes


def finish_search_run(
    client: MlflowClient,
    run_id: str,
    results: TrialSet | Sequence[Any],
    *,
    metric: str = "val_accuracy",
    lr_param: str = "learning_rate",
    error: str = "",
    keep_open: bool = False,
) -> None:
    """Summarise a search on its parent run: counts, best trial, figures; then close the run.

    The run ends FINISHED when at least one trial finished ok and no ``error`` is given; with
    ``keep_open`` a successful search stays RUNNING, for the steps after it to close.
    """
    trials = as_trial_set(results)
    statuses = [r.status for r in trials.values()]
    counts = {f"n_{s}": statuses.count(s) for s in TRIAL_STATUSES}
    summary: dict[str, Any] = {**counts, "n_trials": len(trials), "metric": metric}
    metrics = {key: float(value) for key, value in summary.items() if key != "metric"}
    tags: dict[str, str] = {}
    best = ranked(list(trials.values()), metric)
    if best:
        index = best[0].index
        best_run = find_trial_run_id(client, run_id, index) or ""
        summary.update(best_index=index, best_run_id=best_run, best=best[0].to_dict())
        metrics.update({f"best_{k}": float(v) for k, v in best[0].metrics.items()})
        tags.update(best_trial_index=str(index), best_trial_run_id=best_run)
    if error:
        tags["failure_reason"] = error[:5000]
    now = int(time.time() * 1000)
    client.log_batch(
        run_id,
        metrics=[Metric(k, v, now, 0) for k, v in metrics.items() if math.isfinite(v)],
        tags=[RunTag(k, v) for k, v in tags.items()],
    )
    client.log_text(run_id, json.dumps(summary, indent=2, default=str), "search_summary.json")
    _log_figures(client, run_id, trials, metric, lr_param)
    if best and not error:
        if not keep_open:
            client.set_terminated(run_id, "FINISHED")
        return
    client.set_terminated(run_id, "FAILED")


def end_search_run(client: MlflowClient, run_id: str) -> None:
    """The search's verdict is carried out: its run is FINISHED, a warm start's source now."""
    client.set_terminated(run_id, "FINISHED")


def _log_figures(
    client: MlflowClient, run_id: str, trials: TrialSet, metric: str, lr_param: str
) -> None:
    # matplotlib takes about a second to import: only a search that draws pays it, not `status`.
    from flows.store import figures

    scatter = figures.metric_vs_learning_rate(trials, metric=metric, lr_param=lr_param)
    client.log_figure(run_id, scatter, f"figures/{metric}_vs_{lr_param}.png")
    curves = figures.best_learning_curves(trials, metric=metric, top=5)
    client.log_figure(run_id, curves, "figures/learning_curves_top5.png")


__all__ = [
    "DATASET_CONTEXTS",
    "TRIGGERS",
    "TrackingConfig",
    "TrialSet",
    "all_runs",
    "ensure_experiment",
    "find_logged_trials",
    "find_trial_run_id",
    "finish_search_run",
    "log_datasets",
    "log_trial",
    "make_client",
    "prepare_local_store",
    "start_search_run",
    "trial_key",
]
