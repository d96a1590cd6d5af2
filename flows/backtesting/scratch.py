"""A backtest's scratch project: its own config, incoming folder, MLflow store and journal.

The replay lands the dataset's batches one by one as files in ``<out>/incoming`` of a project
named ``<name>-backtest`` with a store of its own, so the real flows run on it exactly as in
production while the user's project, store and champion are never touched.

The journal (``journal.jsonl``) records each step the moment it is done: the first tune, each
batch's scores (taken before the flows see the batch) and each batch's finished row. A killed
backtest rerun on the same folder and config picks up after the last recorded step; a batch whose
scores were recorded is never scored again, since by then a retune may have trained on it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from data.errors import ConfigError
from data.loading import Batch
from flows.cli.quiet import LOG_NAME
from flows.config import ProjectConfig

MARKER = ".driftune-backtest"
JOURNAL = "journal.jsonl"


@dataclass(frozen=True)
class ScratchProject:
    root: Path
    config_path: Path
    name: str

    @property
    def incoming(self) -> Path:
        return self.root / "incoming"

    @property
    def tracking_uri(self) -> str:
        return f"sqlite:///{self.root / '.driftune' / 'mlflow.db'}"

    def land(self, index: int, batch: Batch) -> None:
        """Batch ``index`` arrives as a new file; file names sort in time order."""
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in batch.id)
        batch.frame.to_parquet(self.incoming / f"{index:05d}-{safe}.parquet", index=False)


def fingerprint(config: ProjectConfig, data_sha256: str, settings: Mapping[str, Any]) -> str:
    """Same config, data and backtest settings: the same replay, so a rerun may resume it."""
    payload = json.dumps(
        [config.to_yaml(), data_sha256, dict(settings)], sort_keys=True, default=str
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def open_scratch(
    config: ProjectConfig, out: Path, stamp: str, *, fresh: bool = False
) -> tuple[ScratchProject, Journal]:
    """The scratch project in ``out``: resumed when it holds the same replay, else made anew.

    A folder that exists, is not empty and carries no backtest marker is refused: it is not
    ours to delete.
    """
    out = out.resolve()
    marker = out / MARKER
    # The command's log (flows/cli/quiet.py) may be the first file here; it outlives a fresh start.
    contents = [p for p in out.iterdir() if p.name != LOG_NAME] if out.is_dir() else []
    if contents and not marker.is_file():
        raise ConfigError(
            f"{out}: exists and is not a driftune backtest folder; pass an empty or new --out"
        )
    if marker.is_file() and (fresh or marker.read_text().strip() != stamp):
        for path in contents:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
    project = ScratchProject(out, out / "driftune.yaml", f"{config.name}-backtest")
    if not marker.is_file():
        _create(project, config, stamp)
    return project, Journal.read(out / JOURNAL)


def _create(project: ScratchProject, config: ProjectConfig, stamp: str) -> None:
    project.incoming.mkdir(parents=True)
    settings = config.model_dump(mode="json", exclude={"root"})
    settings["name"] = project.name
    # The replay writes each batch whole before the flows look: no settle time, no marker.
    settings["dataset"].update(path="incoming", every="file", settle_s=0, marker=None)
    artifacts = (project.root / ".driftune" / "artifacts").as_uri()
    settings["tracking"] = {"uri": project.tracking_uri, "artifacts": artifacts}
    project.config_path.write_text(yaml.safe_dump(settings, sort_keys=False))
    (project.root / MARKER).write_text(stamp + "\n")


@dataclass
class Journal:
    """What a replay has done so far, appended to a JSON-lines file one step at a time."""

    path: Path
    entries: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def read(cls, path: Path) -> Journal:
        if not path.is_file():
            return cls(path)
        lines = path.read_text().splitlines()
        entries = []
        for line in lines:
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a line cut short by a kill: everything before it stands
        return cls(path, entries)

    def append(self, entry: Mapping[str, Any]) -> None:
        record = json.loads(json.dumps(dict(entry), default=_plain))
        with self.path.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        self.entries.append(record)

    def find(self, step: str, batch: int | None = None) -> dict[str, Any] | None:
        for entry in self.entries:
            if entry.get("step") == step and entry.get("batch_index") == batch:
                return entry
        return None

    def rows(self) -> Iterable[dict[str, Any]]:
        return (entry["row"] for entry in self.entries if entry.get("step") == "row")


def _plain(value: Any) -> Any:
    """numpy scalars and paths as JSON values."""
    if hasattr(value, "item"):
        return value.item()
    return str(value)
