"""At most one retune per model at a time: a Prefect global concurrency limit of one slot."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

from data.errors import DriftuneError

# Prefect treats a zero timeout as "wait forever"; a refusal should come back at once.
SHORTEST_WAIT_S = 0.5


class RetuneBusyError(DriftuneError):
    """Another retune of the same model holds the lock."""


def lock_name(project: str) -> str:
    return f"driftune-retune-{project}"


def _ensure_limit(name: str) -> None:
    """Create the one-slot limit when missing; never update it (an update resets held slots)."""
    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            try:
                client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=name, limit=1)
                )
            except ObjectAlreadyExists:
                pass  # another retune created it between our read and our create


@contextmanager
def retune_lock(project: str, *, wait_s: float = 0.0) -> Iterator[None]:
    """Hold the project's retune slot; a RetuneBusyError when it stays taken for ``wait_s``."""
    name = lock_name(project)
    _ensure_limit(name)
    with ExitStack() as stack:
        try:
            stack.enter_context(
                concurrency(
                    name, occupy=1, timeout_seconds=max(wait_s, SHORTEST_WAIT_S), strict=True
                )
            )
        except TimeoutError as error:
            raise RetuneBusyError(
                f"a retune of {project!r} is already running (Prefect concurrency limit {name!r});"
                " this one was refused so two promotions never race: try again when it ends"
            ) from error
        yield
