"""The project's local SQLite store: made once, atomically; refused in one line when unusable.

MLflow makes a new SQLite store as the first client opens it: it creates the first tables, then
runs its schema migrations one by one, with no lock (its own locked variant is not what its
tracking store calls). Two commands started together on a new project both migrated the same
file: tracebacks, and in some tries a store stopped between two migrations, on which every later
command failed. So driftune makes the store under a file lock, in a file of its own that is
renamed into place only once fully migrated: a command sees no store or a whole one, and one
killed while making it leaves only its scratch file. A store that is not whole (made by an older
driftune, or raced by something else), read-only, or gone is refused in one line naming it and
the fix, before MLflow touches it; commands that only read never make one.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing, suppress
from functools import cache
from pathlib import Path

from filelock import FileLock, Timeout

from data.errors import DriftuneError

# Making a store takes seconds; a command waiting for another to make it waits this long at most.
MAKE_TIMEOUT_S = 300.0


class StoreError(DriftuneError):
    """The project's local MLflow store cannot be used as it is; nothing was changed."""


class StoreMissingError(StoreError):
    """The store does not exist, and this command only reads it."""


class StoreReadOnlyError(StoreError):
    """The store, or the folder it lives in, cannot be written."""


class StoreSchemaError(StoreError):
    """The store's schema is not the one this MLflow writes: half-migrated, or older."""


def open_local_store(database: Path, artifacts: Path | None, *, create: bool) -> None:
    """Make sure ``database`` is a whole, writable store; make it when missing and ``create``.

    ``artifacts`` is the local artifact folder beside it (None when artifacts live elsewhere):
    its presence tells a deleted store from one never made, and it must be writable too.
    """
    if not database.exists():
        if not create:
            raise _missing(database, artifacts)
        _make(database)
    _refuse_read_only(database, artifacts)
    _refuse_other_schema(database)


def _missing(database: Path, artifacts: Path | None) -> StoreMissingError:
    if artifacts is not None and artifacts.is_dir():
        return StoreMissingError(
            f"the MLflow store {database} is missing (deleted or moved? its artifacts are still "
            f"in {artifacts}): put it back; `driftune tune` starts a new, empty one"
        )
    return StoreMissingError(
        f"no MLflow store at {database} yet (nothing tuned here): run `driftune tune` first"
    )


def _make(database: Path) -> None:
    """Create and migrate the store in a scratch file under a lock, then rename it into place."""
    try:
        database.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(database.with_name(database.name + ".lock"), timeout=MAKE_TIMEOUT_S)
        with lock:
            if database.exists():  # another command made it while this one waited
                return
            scratch = database.with_name(f"{database.name}.making-{os.getpid()}")
            _remove(scratch)
            _migrate(scratch)
            os.replace(scratch, database)
    except Timeout as error:
        raise StoreError(
            f"the MLflow store {database} is being made by another command that has not finished "
            f"within {MAKE_TIMEOUT_S:.0f} s (its lock is {error.lock_file}): try again"
        ) from error
    except PermissionError as error:
        raise StoreReadOnlyError(
            f"cannot make the MLflow store {database}: {error.strerror} ({error.filename}): "
            "make its folder writable"
        ) from error
    except OSError as error:
        if error.errno == 30:  # EROFS
            raise StoreReadOnlyError(
                f"cannot make the MLflow store {database}: its folder is on a read-only file system"
            ) from error
        raise


def _migrate(scratch: Path) -> None:
    """A new, fully migrated store in ``scratch``, in write-ahead-log mode, its engines closed."""
    from mlflow import MlflowClient

    from flows.store.tracking import forget_cached_stores

    uri = f"sqlite:///{scratch}"
    try:
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        client.search_experiments(max_results=1)  # MLflow creates and migrates the tables here
        client.search_registered_models(max_results=1)
    finally:
        forget_cached_stores(uri)
    with closing(sqlite3.connect(scratch, timeout=30)) as connection:
        connection.execute("PRAGMA journal_mode=WAL")  # persistent; see tracking.make_client


def _remove(scratch: Path) -> None:
    for path in (scratch, *(scratch.with_name(scratch.name + s) for s in ("-wal", "-shm"))):
        with suppress(FileNotFoundError):
            path.unlink()


def _refuse_read_only(database: Path, artifacts: Path | None) -> None:
    """SQLite writes beside the file (its -wal and -shm files) as well as in it."""
    places = [database, database.parent]
    if artifacts is not None and artifacts.exists():
        places.append(artifacts)
    for place in places:
        if not os.access(place, os.W_OK):
            raise StoreReadOnlyError(
                f"the MLflow store {database} is read-only ({place} cannot be written): "
                "driftune records every check, search and promotion there; make it writable, "
                "or point tracking.uri at a store you can write"
            )


def _refuse_other_schema(database: Path) -> None:
    """A store whose schema revision is not this MLflow's head, named with the fix."""
    found, tables, held = _schema_facts(database)
    head = _head_revision()
    if found == head:
        return
    leftover = any(table.startswith("_alembic_tmp_") for table in tables)
    what = "half-migrated" if leftover or not held else "half-migrated, or made by an older MLflow"
    fix = (
        f"it holds no runs or models yet, so delete it (rm {database}) and run the command again"
        if not held
        else f"back it up, then run `mlflow db upgrade sqlite:///{database}`"
    )
    raise StoreSchemaError(
        f"the MLflow store {database} is {what}: its schema stops at revision {found or 'none'}, "
        f"this MLflow needs {head} (a command killed or raced while making it leaves this): {fix}"
    )


def _schema_facts(database: Path) -> tuple[str | None, list[str], int]:
    """The store's alembic revision, its tables, and how many runs and models it holds."""
    try:
        with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)) as db:
            tables = [str(row[0]) for row in db.execute("SELECT name FROM sqlite_master")]
            found = None
            if "alembic_version" in tables:
                row = db.execute("SELECT version_num FROM alembic_version").fetchone()
                found = None if row is None else str(row[0])
            held = 0
            for table in ("runs", "registered_models"):
                if table in tables:
                    held += int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    except sqlite3.DatabaseError as error:
        raise StoreSchemaError(
            f"the MLflow store {database} cannot be read as SQLite ({error}): move it aside and "
            "run `driftune tune` to start a new one"
        ) from error
    return found, tables, held


@cache
def _head_revision() -> str:
    """The schema revision this MLflow writes (read from its migration scripts, once)."""
    from mlflow.store.db.utils import _get_latest_schema_revision  # private, but stable since 1.x

    return str(_get_latest_schema_revision())
