"""Test-session environment: no telemetry, no network, quiet and deterministic threads."""

from __future__ import annotations

import os

# Set before Prefect or MLflow import anywhere in the session: both read these at import time.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
