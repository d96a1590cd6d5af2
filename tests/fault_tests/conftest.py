"""Fault tests run the real `driftune` executable in subprocesses and break its servers for real.

They use the flow tests' real SQLite stores: the migrated template and the decoy.
"""

from __future__ import annotations

import pytest

from tests.flow_tests.conftest import global_store_decoy, template_store

__all__ = ["global_store_decoy", "template_store"]


@pytest.fixture(scope="session")
def prefect_api_url(prefect_server: None) -> str:
    """The session's Prefect server, for the subprocesses (they read PREFECT_API_URL)."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    assert url, "the session's Prefect server has no URL"
    return str(url)
