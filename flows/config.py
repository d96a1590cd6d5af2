"""One YAML file per project, validated by pydantic; errors name the key that is wrong.

Relative paths in the file (the dataset, the tracking store) are relative to the file's folder,
so a project folder can move as a whole. Every section has working defaults except the dataset.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from data.errors import ConfigError
from data.schema import DEFAULT_MIN_ROWS, DatasetSpec
from flows import config_checks
from models.search.fidelity import Fidelity
from models.search.plan import PandaPlan, SearchPlan
from models.search.pruning import SuccessiveHalving
from models.search.space import SearchSpace


def _parsed_space(value: Any) -> Any:
    """The YAML's mapping as a SearchSpace, parsed here once (errors name the parameter)."""
    return (
        value if value is None or isinstance(value, SearchSpace) else SearchSpace.from_dict(value)
    )


def _space_as_dict(space: SearchSpace | None) -> dict[str, dict[str, Any]] | None:
    return None if space is None else space.to_dict()


# search.space: the user's mapping in YAML and JSON, a parsed SearchSpace in between.
SpaceSetting = Annotated[
    SearchSpace | None, BeforeValidator(_parsed_space), PlainSerializer(_space_as_dict)
]


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
    settle_s: float = Field(
        2.0, ge=0, description="a batch file changed this recently is watched this long first"
    )
    marker: str | None = Field(
        None,
        pattern=r"^\.[A-Za-z0-9_.-]+$",
        description="a writer's marker suffix: b.csv is taken once b.csv<marker> exists",
    )
    duplicates: Literal["refuse", "skip"] = Field(
        "refuse", description="a batch file with the same rows as another: refused or skipped"
    )
    out_of_order: Literal["refuse", "skip"] = Field(
        "refuse", description="a new batch older than the champion's data: refused or skipped"
    )

    _every_is_a_rule = field_validator("every")(config_checks.check_every)

    @model_validator(mode="after")
    def _columns_have_one_role(self) -> DatasetConfig:
        for key in ("features", "numeric", "categorical"):
            listed = getattr(self, key) or []
            for role, column in (("label", self.label), ("time", self.time)):
                if column is not None and column in listed:
                    raise ValueError(f"dataset.{key} lists the {role} column {column!r}")
        both = sorted(set(self.numeric or ()) & set(self.categorical or ()))
        if both:
            raise ValueError(f"dataset.numeric and dataset.categorical both list {both}")
        return self

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
            settle_s=self.settle_s,
            marker=self.marker,
            duplicates=self.duplicates,
            out_of_order=self.out_of_order,
        )


class WindowConfig(_Section):
    periods: int = Field(1, ge=1, description="train on the newest N batches")
    validation: float = Field(0.2, gt=0, lt=1)
    holdout: float = Field(0.2, gt=0, lt=1)
    min_rows: int = Field(
        DEFAULT_MIN_ROWS, ge=2, description="fewest labelled rows in train, validation, holdout"
    )
    candidates: list[int | Literal["all"]] = Field(
        default_factory=lambda: [1, 2, 4, "all"],
        description="window lengths in periods to choose among: each trained with the fixed "
        "configuration on the batches before the newest, the one that predicts the newest "
        "batch best becomes the retune's window. Empty: always `periods`, which also serves "
        "while there is no batch before the newest.",
    )

    @field_validator("candidates")
    @classmethod
    def _positive(cls, value: list[int | str]) -> list[int | str]:
        if any(isinstance(k, int) and k < 1 for k in value):
            raise ValueError(f"window candidates must be at least 1 period, got {value}")
        return value


class PandaConfig(_Section):
    segments: int = Field(6, ge=1)
    epochs_per_segment: int = Field(5, ge=1)
    schedule: list[float] | None = Field(None, description="a learning rate per segment")


class PruningConfig(_Section):
    """Successive halving across a fused round (models.search.pruning); caviar only."""

    enabled: bool = False
    min_epochs: int = Field(4, ge=1, description="the first rung: epochs before trials compare")
    reduction_factor: int = Field(3, ge=2, description="eta: the top 1 in eta train on per rung")


class FidelityConfig(_Section):
    """Multi-fidelity caviar (models.search.fidelity): early rounds on fewer rows and epochs."""

    min_rows: int = Field(
        20_000, ge=1, description="windows with fewer training rows keep the full search"
    )
    reduction_factor: int = Field(
        3, ge=2, description="eta: round r of R trains on 1/eta**(R - r) of the rows"
    )
    epoch_factor: int = Field(
        2, ge=1, description="and on max_epochs / epoch_factor**(R - r) epochs"
    )


class EnsembleConfig(_Section):
    """The champion-to-be: an average of the best trials (models.ensemble), or the best one."""

    max_members: int = Field(
        5, ge=1, le=20, description="distinct trials averaged at most; 1: the single best trial"
    )
    steps: int = Field(20, ge=1, le=200, description="greedy selection steps (with replacement)")
    method: Literal["greedy", "top"] = Field(
        "greedy",
        description="greedy: Caruana's selection with replacement; top: the max_members trials "
        "with the lowest validation log-loss, equal weights",
    )


class CrossValidationConfig(_Section):
    """Time-blocked k-fold cross-validation of each trial on small windows (models.folds)."""

    folds: int = Field(1, ge=1, le=20, description="k; 1: the validation slice alone")
    below_rows: int = Field(
        2000, ge=0, description="cross-validate only windows with fewer train + validation rows"
    )


class SearchConfig(_Section):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    strategy: Literal["caviar", "panda"] = "caviar"
    # fixed comes before space: the space's values are checked with the fixed settings beside.
    fixed: dict[str, Any] = Field(
        default_factory=lambda: {"max_epochs": 40, "patience": 8},
        description="BNSoftmaxClassifier parameters every trial shares",
    )
    space: SpaceSetting = Field(None, description="None: the default space")
    rounds: int = Field(3, ge=1)
    trials_per_round: int = Field(6, ge=1)
    top_k: int = Field(3, ge=1)
    seed: int = 0
    max_consecutive_failures: int = Field(5, ge=1)
    warm_start_k: int = Field(2, ge=0, description="previous search's top k re-trained first")
    panda: PandaConfig = PandaConfig()
    fused: bool = Field(
        False, description="train a round's trials of one structure as one stacked model"
    )
    pruning: PruningConfig = PruningConfig()
    fidelity: FidelityConfig | None = Field(
        FidelityConfig(), description="null: every round trains on every row"
    )
    standing_candidate: bool = Field(
        True, description="the fixed configuration trains as the first trial of every search"
    )
    ensemble: EnsembleConfig = EnsembleConfig()
    cross_validation: CrossValidationConfig = CrossValidationConfig()

    @field_validator("fixed")
    @classmethod
    def _fixed_are_estimator_settings(cls, value: dict[str, Any]) -> dict[str, Any]:
        config_checks.check_fixed_settings(value)
        return value

    @field_validator("space")
    @classmethod
    def _space_is_estimator_settings(
        cls, value: SearchSpace | None, info: ValidationInfo
    ) -> SearchSpace | None:
        if value is not None:
            config_checks.check_space_settings(value, info.data.get("fixed", {}))
        return value

    @model_validator(mode="after")
    def _searched_or_fixed(self) -> SearchConfig:
        # Only a fixed mapping the config writes can clash: the default one yields to the space.
        if self.space is not None and "fixed" in self.model_fields_set:
            config_checks.check_no_overlap(self.space, self.fixed)
        return self

    @model_validator(mode="after")
    def _pruning_needs_fused_rounds(self) -> SearchConfig:
        # Trials compare at a rung only when they meet there: inside one fused round.
        if self.pruning.enabled and not self.fused and self.strategy == "caviar":
            raise ValueError(
                "pruning.enabled needs search.fused: true (trials are compared epoch by epoch "
                "inside a fused round)"
            )
        return self

    @property
    def plan(self) -> SearchPlan:
        """This section as the core takes it, whole: a frozen SearchPlan of the parsed values.

        Built from the fields on each call (no parsing: the space was parsed when the config
        loaded), so a ``model_copy(update=...)`` can never leave a stale plan behind.
        """
        panda, pruning = self.panda, self.pruning
        return SearchPlan(
            space=SearchSpace.default() if self.space is None else self.space,
            strategy=self.strategy,
            fixed=self.fixed,
            rounds=self.rounds,
            trials_per_round=self.trials_per_round,
            top_k=self.top_k,
            seed=self.seed,
            max_consecutive_failures=self.max_consecutive_failures,
            warm_start_k=self.warm_start_k,
            fused=self.fused,
            pruner=SuccessiveHalving(pruning.min_epochs, pruning.reduction_factor)
            if pruning.enabled
            else None,
            fidelity=None
            if self.fidelity is None
            else Fidelity(
                self.fidelity.min_rows, self.fidelity.reduction_factor, self.fidelity.epoch_factor
            ),
            panda=PandaPlan(
                segments=panda.segments,
                epochs_per_segment=panda.epochs_per_segment,
                schedule=None if panda.schedule is None else tuple(panda.schedule),
            ),
        )


class DriftConfig(_Section):
    alpha: float = Field(0.05, gt=0, lt=1)
    correction: Literal["holm", "bh", "bonferroni"] | None = "holm"
    min_effect: float = Field(0.1, ge=0)
    max_rows: int = Field(200_000, ge=100)
    seed: int = 0
    accuracy_drop: bool = Field(True, description="a significant accuracy drop counts as drift")
    min_accuracy_drop: float = Field(
        0.01,
        ge=0,
        lt=1,
        description="the smallest drop (accuracy points) that counts, however significant",
    )


class PromotionConfig(_Section):
    metric: Literal["accuracy"] = "accuracy"
    rule: Literal["non_inferiority", "superiority"] = Field(
        "non_inferiority",
        description="non_inferiority: promote unless credibly worse by more than margin; "
        "superiority: promote only when credibly better by at least min_gain",
    )
    margin: float = Field(0.0, ge=0, lt=1, description="non_inferiority's tolerated loss")
    min_gain: float = Field(0.0, ge=0)
    confidence: float = Field(0.95, gt=0.5, lt=1)
    n_boot: int = Field(2000, ge=100)
    seed: int = 0
    refit_on_window: bool = Field(
        True, description="refit a promoted configuration on the whole window, holdout included"
    )


class TrackingSettings(_Section):
    uri: str | None = Field(None, description="None: sqlite store under <project>/.driftune")
    artifacts: str | None = Field(None, description="artifact root for new experiments")
    timeout_s: float = Field(60.0, gt=0, le=3600, description="how long a server outage is retried")

    @field_validator("uri")
    @classmethod
    def _uri_opens_a_store(cls, value: str | None) -> str | None:
        return None if value is None else config_checks.check_tracking_uri(value)


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

    @field_validator("drift_check", "retune")
    @classmethod
    def _cron_prefect_accepts(cls, value: str) -> str:
        # The defaults are known good: a config that keeps them skips importing Prefect.
        if value in ("0 * * * *", "0 3 * * 0"):
            return value
        return config_checks.check_cron(value)

    _timezone_is_iana = field_validator("timezone")(config_checks.check_timezone)


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
    raw = _read_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys, not {_kind(raw)}")
    return parse_config(raw, source=str(path)).resolved(path.parent)


def _read_yaml(path: Path) -> Any:
    """The file's YAML, or a one-line ConfigError saying where it is not UTF-8 or not YAML."""
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the file: {error.strerror or error}") from error
    except UnicodeDecodeError as error:
        line = error.object[: error.start].count(b"\n") + 1
        byte = error.object[error.start : error.start + 1].hex()
        raise ConfigError(
            f"{path}: not UTF-8 text (byte 0x{byte} on line {line}): save it as UTF-8"
        ) from error
    try:
        return yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {_yaml_problem(error)}") from error


def _yaml_problem(error: yaml.YAMLError) -> str:
    """PyYAML's several-line message as one: the problem, where, and what it was inside."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    context, start = getattr(error, "context", None), getattr(error, "context_mark", None)
    inside = f" ({context} at line {start.line + 1})" if context and start is not None else ""
    return " ".join(f"{problem}{where}{inside}".split())


def _kind(value: Any) -> str:
    return {list: "a list", str: "text"}.get(type(value), type(value).__name__)


def parse_config(raw: dict[str, Any], *, source: str = "<config>") -> ProjectConfig:
    try:
        return ProjectConfig.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in item['loc']) or '(top level)'}: "
            + " ".join(item["msg"].removeprefix("Value error, ").split())
            for item in error.errors()
        )
        raise ConfigError(f"{source}: {problems}") from error
