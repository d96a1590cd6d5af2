"""Which Prefect API a command's flows talk to, how long they wait on it, and a quiet console.

The user's API when one is configured (PREFECT_API_URL, a Prefect profile, or a test harness):
checked once before anything runs, so a dead one is one line, not a flow that fails half way.
Otherwise the project's local server (flows/local_server.py), started on first use. Prefect's
own temporary per-process server is never used: on a busy machine it timed out while starting.
The client's retries are bounded by the CLI before Prefect is imported (flows/outages.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flows import local_server
from flows.outages import prefect_unavailable

NOTHING_RAN = "nothing ran and nothing changed"


@contextmanager
def project_api(project_root: Path) -> Iterator[str]:
    """Point Prefect at the project's API for the duration; yields the API URL."""
    from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings

    configured = get_current_settings().api.url
    if configured:
        _check_answers(configured)
        yield configured
        return
    state = local_server.ensure_server(local_server.server_home(project_root))
    previous = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = state.url  # for the processes a flow starts (workers)
    try:
        with temporary_settings(updates={PREFECT_API_URL: state.url}):
            yield state.url
    finally:
        if previous is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = previous


def _check_answers(url: str) -> None:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        problem = client.api_healthcheck()
    if problem is not None:
        raise prefect_unavailable(url, _short(problem), NOTHING_RAN)


def _short(problem: Exception) -> str:
    text = str(problem).strip().split("\n")[0]
    return text[:120] or type(problem).__name__


def quiet_prefect_console() -> None:
    """Keep Prefect's console logs (and its tracebacks) out of the CLI's own output.

    Only the console handlers are quieted: flow and task logs still reach the Prefect server,
    so the Prefect UI keeps every line. PREFECT_LOGGING_LEVEL=DEBUG brings them back here.
    """
    if os.environ.get("PREFECT_LOGGING_LEVEL", "").upper() == "DEBUG":
        return
    import logging

    from prefect.logging.configuration import setup_logging
    from prefect.logging.handlers import PrefectConsoleHandler

    setup_logging()
    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        for handler in getattr(logger, "handlers", []):
            if isinstance(handler, PrefectConsoleHandler):
                handler.setLevel(logging.CRITICAL)
    # When the API dies, Prefect's background services (events, logs to the API) report each
    # failed send on stderr: its internal logger and, through logging's own error hook, the log
    # worker. The command tells the outage once, in one line.
    for handler in logging.getLogger("prefect._internal").handlers:
        handler.setLevel(logging.CRITICAL)  # its logger ignores levels: it reads a setting
    logging.raiseExceptions = False
