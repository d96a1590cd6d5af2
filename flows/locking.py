"""At most one retune per model at a time: a Prefect global concurrency limit of one slot.

The slot is held under a lease of one minute (the shortest the server grants) that Prefect's
lease maintenance renews from a thread while the holder lives; a holder whose lease cannot be
renewed is stopped, since the slot may then go to another retune. A SIGKILLed holder releases
nothing and its lease only runs out after that minute (longer while its server is down), so
the holder also records itself (host, pid, start time, lease) in a Prefect variable. A retune
refused the slot reads that record: a holder on this host whose process is gone has its lease
released at once, and the slot is taken over. Once in, the new holder marks the flow runs the
killed process left RUNNING as CRASHED (flows/orphans.py).
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from uuid import UUID

import httpx
from prefect._internal.concurrency.cancellation import CancelledError
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.actions import (
    GlobalConcurrencyLimitCreate,
    VariableCreate,
    VariableUpdate,
)

# Prefect's own renewal loop (what `concurrency()` runs), used directly because taking over a
# dead holder's slot needs the lease id that `concurrency()` keeps to itself.
from prefect.concurrency._leases import maintain_concurrency_lease
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, temporary_settings

from data.errors import DriftuneError
from flows import orphans
from flows.outages import PrefectUnavailableError, as_outage
from flows.run_owner import Owner

logger = logging.getLogger(__name__)
LEASE_S = 60.0
SLOT_TAKEN = 423  # the server's answer when the one slot is held


class RetuneBusyError(DriftuneError):
    """Another retune of the same model holds the lock."""


class LockLostError(PrefectUnavailableError):
    """The lock's lease could not be renewed, so the retune stopped before it could race."""


@dataclass(frozen=True)
class Holder:
    lease_id: str
    owner: Owner
    since: float


def lock_name(project: str) -> str:
    return f"driftune-retune-{project}"


def holder_variable(project: str) -> str:
    """A valid variable name (lowercase, digits, - and _) that stays unique per project."""
    slug = re.sub(r"[^a-z0-9_-]", "-", project.lower())[:60]
    digest = hashlib.sha256(project.encode()).hexdigest()[:10]
    return f"driftune-retune-holder-{slug}-{digest}"


@contextmanager
def retune_lock(project: str, *, wait_s: float = 0.0) -> Iterator[None]:
    """Hold the project's retune slot; a RetuneBusyError when it stays taken for ``wait_s``."""
    name = lock_name(project)
    with get_client(sync_client=True) as client:
        _ensure_limit(client, name)
        lease_id = _acquire(client, project, name, wait_s)
    try:
        _record_holder(project, lease_id)
        with maintain_concurrency_lease(lease_id, LEASE_S, raise_on_lease_renewal_failure=True):
            _tidy_flow_runs(project)
            yield
    except CancelledError as error:  # sent into this thread by the renewal loop
        raise LockLostError(
            f"the retune of {project!r} stopped: its lock's lease could not be renewed on the "
            "Prefect API, so another retune could have taken the slot"
        ) from error
    except BaseException as error:
        if as_outage(error, "") is None:
            _release(project, lease_id)
        # else the API is gone: releasing would wait out its retries, and the lease runs out
        raise
    else:
        _release(project, lease_id)


def _ensure_limit(client: SyncPrefectClient, name: str) -> None:
    """Create the one-slot limit when missing; never update it (an update resets held slots)."""
    try:
        client.read_global_concurrency_limit_by_name(name)
    except ObjectNotFound:
        try:
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
        except ObjectAlreadyExists:
            pass  # another retune created it between our read and our create


def _acquire(client: SyncPrefectClient, project: str, name: str, wait_s: float) -> UUID:
    """Take the slot: at once, after releasing a dead holder's lease, or within ``wait_s``.

    With no wait the request is sent once and refused only on the server's "slot taken"
    answer: a wall-clock timeout would also refuse a free slot on a slow, busy server.
    """
    deadline = time.monotonic() + wait_s
    released: set[str] = set()
    while True:
        lease_id, retry_after = _try_slot(client, name)
        if lease_id is not None:
            return lease_id
        holder = read_holder(client, project)
        if holder is not None and holder.lease_id not in released and holder.owner.is_gone():
            client.release_concurrency_slots_with_lease(UUID(holder.lease_id))
            released.add(holder.lease_id)
            logger.warning("took over the retune lock of %s: %s", project, _gone(holder))
            continue
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _busy(project, name, holder)
        time.sleep(min(retry_after, remaining))


def _try_slot(client: SyncPrefectClient, name: str) -> tuple[UUID | None, float]:
    """The lease id when the slot was free; else None and how long the server says to wait."""
    try:
        response = client.increment_concurrency_slots_with_lease(
            names=[name], slots=1, mode="concurrency", lease_duration=LEASE_S
        )
    except httpx.HTTPStatusError as error:
        if error.response.status_code != SLOT_TAKEN:
            raise
        return None, min(5.0, max(0.5, float(error.response.headers.get("Retry-After", 1))))
    return UUID(response.json()["lease_id"]), 0.0


def read_holder(client: SyncPrefectClient, project: str) -> Holder | None:
    variable = client.read_variable_by_name(holder_variable(project))
    if variable is None or not isinstance(variable.value, dict):
        return None
    try:
        value = dict(variable.value)
        owner = Owner(str(value["host"]), int(value["pid"]), float(value["created"]))
        return Holder(str(value["lease_id"]), owner, float(value["since"]))
    except (KeyError, TypeError, ValueError):
        return None  # not a record this code wrote: judge nothing by it


def _record_holder(project: str, lease_id: UUID) -> None:
    owner = Owner.me()
    value = {"lease_id": str(lease_id), **asdict(owner), "since": time.time()}
    name = holder_variable(project)
    with get_client(sync_client=True) as client:
        try:
            client.create_variable(VariableCreate(name=name, value=value))
        except ObjectAlreadyExists:
            client.update_variable(VariableUpdate(name=name, value=value))


def _tidy_flow_runs(project: str) -> None:
    """Tag this run and crash the dead ones; housekeeping that never fails the retune."""
    try:
        orphans.tag_current_flow_run(project)
        orphans.crash_orphans(project)
    except (httpx.HTTPError, ValueError) as error:
        logger.warning("could not mark the orphaned flow runs of %s: %s", project, error)


def _release(project: str, lease_id: UUID) -> None:
    """Forget the record while the slot is still ours, then free the slot.

    When the API does not answer, the lease runs out on its own; the error that stopped the
    retune (if any) is the one to report, not this one.
    """
    try:
        with get_client(sync_client=True) as client:
            holder = read_holder(client, project)
            if holder is not None and holder.lease_id == str(lease_id):
                _forget_record(client, project)
            client.release_concurrency_slots_with_lease(lease_id)
    except httpx.HTTPError as error:
        logger.warning("could not release the retune lock of %s: %s", project, error)


def _forget_record(client: SyncPrefectClient, project: str) -> None:
    """Delete the holder record in one try.

    A local server on SQLite answers 503 while it writes the ending flow's events, and
    Prefect's client retry then slept about 2 s of most retunes here (bench/retune_profile).
    A record left behind is harmless: it names a lease already released, which the next
    holder's record replaces, and releasing that lease again (a refused retune judging its
    process gone) frees nothing.
    """
    try:
        with temporary_settings({PREFECT_CLIENT_MAX_RETRIES: 0}):
            client.delete_variable_by_name(holder_variable(project))
    except httpx.HTTPStatusError as error:
        logger.debug("left the retune lock record of %s behind: %s", project, error)


def _gone(holder: Holder) -> str:
    return f"its holder ({holder.owner.describe()}) is gone"


def _busy(project: str, name: str, holder: Holder | None) -> RetuneBusyError:
    since = ""
    if holder is not None:
        since = f", held by {holder.owner.describe()} since {time.ctime(holder.since)}"
    return RetuneBusyError(
        f"a retune of {project!r} is already running (Prefect concurrency limit {name!r}{since});"
        " this one was refused so two promotions never race: try again when it ends"
    )
