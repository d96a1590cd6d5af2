"""From a project config to what every flow needs: its ``Store``, a client on its tracking store."""

from __future__ import annotations

import os

from data.errors import ConfigError
from flows.config import ProjectConfig
from flows.config_checks import check_tracking_uri
from flows.outages import mlflow_request_bounds
from flows.store.handle import Store
from flows.store.tracking import TrackingConfig

TRACKING_URI_ENV = "DRIFTUNE_TRACKING_URI"  # lets a worker point every project at a server


def tracking_config(config: ProjectConfig) -> TrackingConfig:
    """The config's store; else $DRIFTUNE_TRACKING_URI; else SQLite under <project>/.driftune."""
    uri = config.tracking.uri or os.environ.get(TRACKING_URI_ENV)
    if uri is None:
        return TrackingConfig.local(config.root, config.name)
    if not config.tracking.uri:  # the config's own URI was checked when it loaded
        try:
            check_tracking_uri(uri)
        except ValueError as error:
            raise ConfigError(f"${TRACKING_URI_ENV}: {error}") from error
    return TrackingConfig(uri, config.tracking.artifacts, config.name)


def open_store(config: ProjectConfig, *, create: bool = False) -> Store:
    """The project's store, its requests bounded by ``tracking.timeout_s``.

    Only what makes a champion (``create``: a retune, a backtest's scratch store) makes a
    local store; every other command refuses a missing one in one line instead of making an
    empty store where a deleted one was (flows/store/local_store.py).
    """
    tracking = tracking_config(config)
    bound_tracking_requests(tracking, config.tracking.timeout_s)
    return Store.open(tracking, create=create)


def bound_tracking_requests(tracking: TrackingConfig, timeout_s: float) -> None:
    """A tracking server that stops answering fails after ``timeout_s``, not MLflow's minutes.

    MLflow reads its retry settings from the environment at each request, and a client takes
    no such options, so they are set for this process (and the processes it starts).
    """
    if tracking.tracking_uri.startswith(("http://", "https://")):
        os.environ.update(mlflow_request_bounds(timeout_s))
