"""A project tuned once per test module, copied for each test: one starting champion, not one each.

A copy is the whole project folder (config, batch files, the SQLite store and its artifacts)
with every absolute path the store recorded (artifact locations, model sources, dataset
sources) moved to the copy, so the copy reads its own model files and writes its own runs, and
nothing a test does to it reaches the original or the next test's copy. A copy lives at a path
of its own: MLflow keeps a store per URI for the life of the process, so a file replaced under
an old URI would be read through connections to the file it replaced.
"""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

STORE = Path(".driftune") / "mlflow.db"


def copy_project(source: Path, target: Path) -> Path:
    """Copy the project folder ``source`` to ``target``; returns the copy's config path."""
    # Without a local Prefect server's folder: the copy starts its own, should it need one.
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("prefect"))
    _relocate(target / STORE, f"{source}/", f"{target}/")
    return target / "driftune.yaml"


def _relocate(database: Path, old: str, new: str) -> None:
    """Rewrite ``old`` to ``new`` in every text column of every table, then check none is left."""
    with closing(sqlite3.connect(database)) as db, db:
        columns = [
            (table, column)
            for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            for _, column, kind, *_ in db.execute(f'PRAGMA table_info("{table}")')
            if any(word in kind.upper() for word in ("CHAR", "TEXT", "CLOB"))
        ]
        for table, column in columns:
            db.execute(
                f'UPDATE "{table}" SET "{column}" = replace("{column}", ?, ?) '
                f'WHERE instr("{column}", ?) > 0',
                (old, new, old),
            )
        left = [
            f"{table}.{column}"
            for table, column in columns
            if db.execute(
                f'SELECT 1 FROM "{table}" WHERE instr(CAST("{column}" AS TEXT), ?) > 0 LIMIT 1',
                (old.rstrip("/"),),
            ).fetchone()
        ]
    assert not left, f"the copied store still names {old} in {left}"
