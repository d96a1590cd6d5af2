"""A new project's store made once, whatever starts at the same time, and a half-made one named.

Four `driftune tune` processes start together on a project with no `.driftune` folder at all:
before the store was made under a lock, each ran MLflow's schema migrations on the same new
SQLite file, and every try ended in tracebacks, some with a half-migrated store that every later
command failed on. Now each either tunes or is refused in one line, one champion stands, and
the store is whole. A store an earlier crash left half-migrated (made here with MLflow's own
migrations, stopped part way, as a kill between two of them leaves it) is named in one line
with the fix, never a traceback.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy
from alembic import command
from mlflow.store.db.utils import _get_alembic_config
from mlflow.store.tracking.dbmodels.initial_models import Base as InitialBase

from tests.fault_tests.processes import champion_version, cli_env, invoke, start
from tests.flow_tests.projects import batch, land, make_project

RACERS = 4
ROUNDS = 3
ONE_TRIAL = {"rounds": 1, "trials_per_round": 1, "top_k": 1, "seed": 0}
ONE_TRIAL["fixed"] = {"max_epochs": 2, "patience": 2}


@pytest.mark.slow
def test_tunes_started_together_on_a_new_project_make_one_store_and_one_champion(
    tmp_path: Path, prefect_api_url: str, global_store_decoy: Path
) -> None:
    env = cli_env(prefect_api_url)
    for round_ in range(ROUNDS):
        root = tmp_path / f"round-{round_}"
        config = make_project(root, search=ONE_TRIAL)  # no store: the racers make it
        land(root, "a-2024-01", batch(np.random.default_rng(round_), "2024-01-01"))
        racers = [start("tune", "-c", str(config), env=env) for _ in range(RACERS)]
        told = []
        for racer in racers:
            out, err = racer.communicate(timeout=900)
            told.append((racer.returncode, out + err))
        for code, output in told:
            assert "Traceback" not in output, output
            if code != 0:
                lines = [line for line in output.splitlines() if line.strip()]
                assert code == 1 and len(lines) == 1, output
        assert any(code == 0 for code, _ in told), told
        assert champion_version(config) is not None
        assert _schema_is_whole(root / ".driftune" / "mlflow.db")
        code, output = invoke("status", "-c", str(config))
        assert code == 0 and "champion: version" in output, output


def _schema_is_whole(database: Path) -> bool:
    with closing(sqlite3.connect(database)) as connection:
        (revision,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    return bool(revision == _head_revision())


def _head_revision() -> str:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_get_alembic_config("sqlite://"))
    head = script.get_current_head()
    assert head is not None
    return head


def half_migrated(database: Path) -> str:
    """A store whose migrations stopped part way (as a kill between two of them leaves it).

    MLflow makes a new SQLite store by creating its first tables, then running its alembic
    migrations one by one; this runs them up to one halfway along and stops. Returns that
    revision.
    """
    database.parent.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{database}"
    engine = sqlalchemy.create_engine(url)
    InitialBase.metadata.create_all(engine)
    from alembic.script import ScriptDirectory

    alembic_config = _get_alembic_config(url)
    revisions = list(ScriptDirectory.from_config(alembic_config).walk_revisions())
    halfway = revisions[len(revisions) // 2].revision
    with engine.begin() as connection:
        alembic_config.attributes["connection"] = connection
        command.upgrade(alembic_config, halfway)
    engine.dispose()
    return str(halfway)


@pytest.mark.parametrize("command_name", ["status", "tune", "check-drift", "promote"])
def test_a_half_migrated_store_is_named_in_one_line_with_the_fix(
    tmp_path: Path, command_name: str, global_store_decoy: Path
) -> None:
    config = make_project(tmp_path)
    land(tmp_path, "a-2024-01", batch(np.random.default_rng(0), "2024-01-01"))
    database = tmp_path / ".driftune" / "mlflow.db"
    revision = half_migrated(database)
    before = database.read_bytes()
    extra = {"promote": ["1", "--reason", "test"]}.get(command_name, [])
    code, output = invoke(command_name, *extra, "-c", str(config))
    lines = [line for line in output.splitlines() if line.strip()]
    assert code == 1 and len(lines) == 1, output
    assert str(database) in lines[0] and "half" in lines[0], lines[0]
    assert revision in lines[0] and f"rm {database}" in lines[0], lines[0]
    assert database.read_bytes() == before, "the store was changed"
