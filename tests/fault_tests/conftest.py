"""Fault tests run the real `driftune` executable in subprocesses and break its servers for real."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def prefect_api_url(prefect_server: None) -> str:
    """The session's Prefect server, for the subprocesses (they read PREFECT_API_URL)."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    assert url, "the session's Prefect server has no URL"
    return str(url)
