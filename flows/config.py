"""One YAML file per project, validated by pydantic; errors name the key that is wrong.

Relative paths in the file (the dataset, the tracking store) are relative to the file's folder,
so a project folder can move as a whole. Every section has working defaults except the dataset.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from data.errors import ConfigError
from data.schema import DatasetSpec
from models.search import SearchSpace


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatasetConfig(_Section):
    path: Path = Field(description="CSV or Parquet file, or a folder of batch files")
    label: str
    time: str | None = Field(None, description="time column; None means rows are in time order")
    features: list[str] | None = None
    numeric: list[str] | None = None
    categorical: list[str] | None = None
    every: str | int = Field("MS", description='batch rule: "YS", "MS", "W", "file" or a row count')

    def spec(self, name: str) -> DatasetSpec:
        return DatasetSpec(
            path=self.path,
            label=self.label,
            time=self.time,
            features=None if self.features is None else tuple(self.features),
            numeric=None if self.numeric is None else tuple(self.numeric),
            categorical=None if self.categorical is None else tuple(self.categorical),
            every=self.every,
            name=name,
        )


class WindowConfig(_Section):
    periods: int = Field(2, ge=1, description="train on the newest N batches")
    validation: float = Field(0.2, gt=0, lt=1)
    holdout: float = Field(0.2, gt=0, lt=1)


class PandaConfig(_Section):
    segments: int = Field(6, ge=1)
    epochs_per_segment: int = Field(5, ge=1)
    schedule: list[float] | None = Field(None, description="a learning rate per segment")


class SearchConfig(_Section):
    strategy: Literal["caviar", "panda"] = "caviar"
    space: dict[str, dict[str, Any]] | None = Field(None, description="None: the default space")
    rounds: int = Field(3, ge=1)
    trials_per_round: int = Field(6, ge=1)
    top_k: int = Field(3, ge=1)
    seed: int = 0
    max_consecutive_failures: int = Field(5, ge=1)
    warm_start_k: int = Field(2, ge=0, description="previous search's top k re-trained first")
    fixed: dict[str, Any] = Field(
        default_factory=lambda: {"max_epochs": 40, "patience": 8},
        description="BNSoftmaxClassifier parameters every trial shares",
    )
    panda: PandaConfig = PandaConfig()

    @field_validator("space")
    @classmethod
    def _space_parses(cls, value: dict[str, dict[str, Any]] | None) -> Any:
        if value is not None:
            SearchSpace.from_dict(value)  # raises with the parameter's name
        return value

    @field_validator("fixed")
    @classmethod
    def _fixed_are_estimator_settings(cls, value: dict[str, Any]) -> dict[str, Any]:
        # Imported here: the estimator brings torch (seconds), and most commands never train.
        from models.estimator import BNSoftmaxClassifier

        known = BNSoftmaxClassifier().get_params()
        unknown = sorted(set(value) - set(known))
        if unknown:
            raise ValueError(f"unknown estimator settings {unknown}; known: {sorted(known)}")
        BNSoftmaxClassifier(**value).check_settings()  # a bad value fails here, not per trial
        return value

    def search_space(self) -> SearchSpace:
        return SearchSpace.default() if self.space is None else SearchSpace.from_dict(self.space)


class DriftConfig(_Section):
    alpha: float = Field(0.05, gt=0, lt=1)
    correction: Literal["holm", "bh", "bonferroni"] | None = "holm"
    min_effect: float = Field(0.1, ge=0)
    max_rows: int = Field(200_000, ge=100)
    seed: int = 0
    accuracy_drop: bool = Field(True, description="a significant accuracy drop counts as drift")


class PromotionConfig(_Section):
    metric: Literal["accuracy"] = "accuracy"
    min_gain: float = Field(0.0, ge=0)
    confidence: float = Field(0.95, gt=0.5, lt=1)
    n_boot: int = Field(2000, ge=100)
    seed: int = 0


class TrackingSettings(_Section):
    uri: str | None = Field(None, description="None: sqlite store under <project>/.driftune")
    artifacts: str | None = Field(None, description="artifact root for new experiments")
    timeout_s: float = Field(60.0, gt=0, le=3600, description="how long a server outage is retried")


class RunnerConfig(_Section):
    kind: Literal["threads", "dask"] = "threads"
    max_workers: int | None = Field(None, ge=1, description="parallel trials; None: all cores")
    dask_address: str | None = Field(None, description="tcp://scheduler:8786 when kind is dask")
    wait_for_lock_s: float = Field(0.0, ge=0, description="how long a second retune waits")

    @model_validator(mode="after")
    def _dask_needs_address(self) -> RunnerConfig:
        if self.kind == "dask" and not self.dask_address:
            raise ValueError("runner.kind 'dask' needs runner.dask_address")
        return self


class ScheduleConfig(_Section):
    drift_check: str = Field("0 * * * *", description="cron for drift-check")
    retune: str = Field("0 3 * * 0", description="cron for retune-scheduled")
    timezone: str = "UTC"


class ProjectConfig(_Section):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    dataset: DatasetConfig
    window: WindowConfig = WindowConfig()
    search: SearchConfig = SearchConfig()
    drift: DriftConfig = DriftConfig()
    promotion: PromotionConfig = PromotionConfig()
    tracking: TrackingSettings = TrackingSettings()
    runner: RunnerConfig = RunnerConfig()
    schedules: ScheduleConfig = ScheduleConfig()
    root: Path = Field(Path("."), description="the project folder (the config file's folder)")

    def spec(self) -> DatasetSpec:
        return self.dataset.spec(self.name)

    def resolved(self, root: Path) -> ProjectConfig:
        """Paths made absolute against the project folder."""
        root = root.resolve()
        dataset = self.dataset.model_copy(update={"path": _absolute(self.dataset.path, root)})
        return self.model_copy(update={"dataset": dataset, "root": root})

    def to_yaml(self) -> str:
        data = self.model_dump(mode="json", exclude={"root"})
        return yaml.safe_dump(data, sort_keys=False)


def _absolute(path: Path, root: Path) -> Path:
    expanded = Path(os.path.expanduser(path))
    return expanded if expanded.is_absolute() else root / expanded


def load_config(path: str | Path) -> ProjectConfig:
    """Read and validate a project YAML file; a ConfigError names the file and every bad key."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file (create one with `driftune init`)")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from error
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys")
    return parse_config(raw, source=str(path)).resolved(path.parent)


def parse_config(raw: dict[str, Any], *, source: str = "<config>") -> ProjectConfig:
    try:
        return ProjectConfig.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in item['loc']) or '(top level)'}: {item['msg']}"
            for item in error.errors()
        )
        raise ConfigError(f"{source}: {problems}") from error
