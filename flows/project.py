"""From a project config to the things every flow needs: the tracking store and its client."""

from __future__ import annotations

import os

from mlflow import MlflowClient

from flows.config import ProjectConfig
from flows.tracking import TrackingConfig, make_client

TRACKING_URI_ENV = "DRIFTUNE_TRACKING_URI"  # lets a worker point every project at a server


def tracking_config(config: ProjectConfig) -> TrackingConfig:
    """The config's store; else $DRIFTUNE_TRACKING_URI; else SQLite under <project>/.driftune."""
    uri = config.tracking.uri or os.environ.get(TRACKING_URI_ENV)
    if uri is None:
        return TrackingConfig.local(config.root, config.name)
    return TrackingConfig(uri, config.tracking.artifacts, config.name)


def open_store(config: ProjectConfig) -> tuple[TrackingConfig, MlflowClient]:
    tracking = tracking_config(config)
    return tracking, make_client(tracking)
