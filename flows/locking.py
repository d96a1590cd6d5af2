"""At most one retune per model at a time: a Prefect global concurrency limit of one slot."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import httpx
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.concurrency.asyncio import ConcurrencySlotAcquisitionError
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

from data.errors import DriftuneError

# The server answers 423 Locked when the one slot is taken.
SLOT_TAKEN = 423


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


def _slot_was_taken(error: ConcurrencySlotAcquisitionError) -> bool:
    cause = error.__cause__
    return isinstance(cause, httpx.HTTPStatusError) and cause.response.status_code == SLOT_TAKEN


def _busy(project: str, name: str) -> RetuneBusyError:
    return RetuneBusyError(
        f"a retune of {project!r} is already running (Prefect concurrency limit {name!r});"
        " this one was refused so two promotions never race: try again when it ends"
    )


@contextmanager
def retune_lock(project: str, *, wait_s: float = 0.0) -> Iterator[None]:
    """Hold the project's retune slot; a RetuneBusyError when it stays taken for ``wait_s``.

    With no wait, the request is sent once and refused only on the server's "slot taken"
    answer: a wall-clock timeout would also refuse a free slot on a slow, busy server.
    """
    name = lock_name(project)
    _ensure_limit(name)
    # Prefect reads a zero timeout as "wait forever", so no wait means no retries instead.
    waiting = {"timeout_seconds": wait_s} if wait_s > 0 else {"max_retries": 0}
    with ExitStack() as stack:
        try:
            stack.enter_context(concurrency(name, occupy=1, strict=True, **waiting))
        except TimeoutError as error:
            raise _busy(project, name) from error
        except ConcurrencySlotAcquisitionError as error:
            if not _slot_was_taken(error):
                raise
            raise _busy(project, name) from error
        yield
