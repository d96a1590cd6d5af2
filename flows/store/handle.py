"""One handle on a project's MLflow store: its client, its tracking config, its experiment ids.

Every function of the adapter that works on the project (its experiments, its registered model)
takes a ``Store``; one given a run id, a model id or an artifact URI keeps a bare
``MlflowClient``, since that id already names where it lives. A Store pickles with its client,
so Prefect tasks on Dask workers receive it as they received the client.

This module imports nothing heavy: the CLI names a Store before it may load MLflow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from flows.store.tracking import TrackingConfig


@dataclass(frozen=True)
class Store:
    """A client bound to the project's store, with the config that names its experiments."""

    client: MlflowClient
    tracking: TrackingConfig

    def __post_init__(self) -> None:
        # Not a field: two handles on the same store compare equal whatever they resolved.
        object.__setattr__(self, "_experiments", {})

    @classmethod
    def open(cls, tracking: TrackingConfig, *, create: bool = True) -> Store:
        """A handle with a new client on ``tracking`` (``tracking.make_client``).

        With ``create`` false, a local store that does not exist is refused, not made.
        """
        from flows.store.tracking import make_client

        return cls(make_client(tracking, create=create), tracking)

    @property
    def name(self) -> str:
        """The project name: the registered model, and the prefix of every experiment."""
        return self.tracking.name

    @property
    def tracking_uri(self) -> str:
        return self.tracking.tracking_uri

    def experiment_name(self, kind: str) -> str:
        return self.tracking.experiment_name(kind)

    def experiment_id(self, kind: str) -> str:
        """The id of ``<name>-<kind>``, created on demand the first time this handle asks.

        Resolved by ``tracking.ensure_experiment`` once per kind and handle, then remembered.
        """
        experiments: dict[str, str] = self._experiments  # type: ignore[attr-defined]
        found = experiments.get(kind)
        if found is None:
            from flows.store.tracking import ensure_experiment

            found = experiments[kind] = ensure_experiment(self, kind)
        return found
