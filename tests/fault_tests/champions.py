"""A real project with a real champion to tamper with, and the CLI run as a user runs it.

The champion is trained for real (torch, a few epochs), logged through ``log_model`` and
registered through ``register_candidate`` into the project's own SQLite store, so its files lie
on disk under ``<project>/.driftune/artifacts`` where a test can rewrite them. A module builds
it once and gives each test a copy of the whole project (``copy_champion``) to tamper with.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pandas as pd

from data.preprocessing import make_preprocessor
from data.schema import FeatureSet
from flows.config import load_config
from flows.store.handle import Store
from flows.store.model_files import sha256_of
from flows.store.packaging import Scorer, log_model
from flows.store.project import open_store
from flows.store.registry import SHA256_PREFIX, promote, register_candidate
from flows.store.tracking import ensure_experiment
from models.estimator import BNSoftmaxClassifier
from tests.fault_tests.project_copies import copy_project
from tests.flow_tests.projects import batch, land, make_project

FEATURES = FeatureSet(numeric=("x1", "x2"), categorical=("colour",))


def train_scorer(seed: int = 0) -> Scorer:
    """A small real model on the projects' two-class batches (one hidden layer of 8 units)."""
    frame = batch(np.random.default_rng(seed), "2024-01-01")
    preprocessor = make_preprocessor(FEATURES).fit(frame)
    estimator = BNSoftmaxClassifier(
        n_layers=1, hidden_units=8, max_epochs=5, batch_size=32, random_state=seed
    ).fit(preprocessor.transform(frame), frame["label"].to_numpy())
    return Scorer.from_estimator(estimator, preprocessor, FEATURES, frame)


@dataclass(frozen=True)
class ChampionProject:
    """A project folder whose store has one version, the champion, logged from ``scorer``."""

    config: Path
    store: Store
    version: str
    model_dir: Path  # the logged model's folder: MLmodel, driftune_model.py, artifacts/, code/
    rows: Path  # a CSV of unlabelled rows to score
    expected: pd.DataFrame  # what the untampered champion predicts for them

    def artifact(self, name: str) -> Path:
        return self.model_dir / "artifacts" / name

    def retag(self, name: str) -> None:
        """Record the artifact's new SHA-256, as someone who can write the registry would."""
        self.store.client.set_model_version_tag(
            self.store.name, self.version, SHA256_PREFIX + name, sha256_of(self.artifact(name))
        )


def champion_project(root: Path, template_db: Path, scorer: Scorer) -> ChampionProject:
    config_path = make_project(root, template_db)
    land(root, "a-2024-01", batch(np.random.default_rng(0), "2024-01-01"))
    store = open_store(load_config(config_path))
    client = store.client
    run_id = client.create_run(ensure_experiment(store, "search")).info.run_id
    example = batch(np.random.default_rng(1), "2024-02-01", n=5)
    ref = log_model(client, run_id, scorer, example)
    version = register_candidate(
        store,
        ref,
        search_run_id=run_id,
        data_sha256="ab" * 32,
        holdout_metrics={"accuracy": 0.9, "holdout_rows": 60.0},
    )
    promote(store, version, "the champion the tests tamper with")
    rows = batch(np.random.default_rng(2), "2024-03-01", n=30).drop(columns="label")
    source = root / "new.csv"
    rows.to_csv(source, index=False)
    model_dir = Path(unquote(urlparse(ref.artifact_location).path))
    return ChampionProject(config_path, store, version, model_dir, source, scorer.predict(rows))


def copy_champion(project: ChampionProject, root: Path) -> ChampionProject:
    """The same champion in a copy of its project folder at ``root``, its own store and files."""
    source = project.config.parent
    config = copy_project(source, root)

    def moved(path: Path) -> Path:
        return root / path.relative_to(source)

    store = open_store(load_config(config))
    model_dir, rows = moved(project.model_dir), moved(project.rows)
    return ChampionProject(config, store, project.version, model_dir, rows, project.expected)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`driftune ARGS` in a new process, as a user or a scheduler runs it.

    Only where a fresh interpreter is what is tested; elsewhere ``processes.invoke`` runs the
    command in this process.
    """
    driftune = Path(sys.executable).parent / "driftune"
    return subprocess.run(
        [str(driftune), *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        check=False,
        timeout=300,
    )


def assert_one_line_refusal(code: int, output: str, *needles: str) -> str:
    """Exit 1, one line of output, no traceback, every needle in it; returns the line."""
    output = output.strip()
    assert code == 1, output
    assert "Traceback" not in output, output
    assert len(output.splitlines()) == 1, output
    for needle in needles:
        assert needle in output, output
    return output
