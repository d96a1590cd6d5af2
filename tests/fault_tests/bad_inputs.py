"""The bad-input matrix: each case builds its own project folder and names what the error names.

Every case writes a config (a change of ``BASE``, or raw bytes) and its data under its own folder,
pointing at the champion's store through ``tracking.uri``, so a case that slipped past the checks
would write there and the test would see it. ``via`` says how the CLI runs: ``process`` for the
cases that start a Prefect flow and read data (a real ``driftune`` subprocess, where a traceback
cannot hide), ``cli`` (typer's CliRunner, in-process) for the ones refused at config load or
before any flow.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from tests.flow_tests.projects import TINY_SEARCH, batch

BASE: dict[str, Any] = {
    "name": "toy",
    # Files are written whole before each command: no settle time (data/intake.py).
    "dataset": {
        "path": "incoming",
        "label": "label",
        "time": "when",
        "every": "file",
        "settle_s": 0,
    },
    "window": {"periods": 1, "validation": 0.25, "holdout": 0.25},
    "search": TINY_SEARCH,
    "promotion": {"n_boot": 500},
}
# One case per command and per path a traceback once took (issue 11), run as a real `driftune`
# process: there nothing can hide a traceback or a stray warning. Each costs an interpreter start
# with torch, Prefect and MLflow (6-20 s on a busy 2-core machine), so the rest run in-process.
THROUGH_A_PROCESS = frozenset(
    {
        "data-inf",
        "data-text-in-numbers-one-file",
        "data-duplicated-column",
        "data-five-row-window",
        "drift-inf-in-new-batch",
        "predict-missing-feature",
        "predict-text-in-numeric",
        "predict-inf",
        "data-fractional-labels",
        "drift-missing-inferred-feature",
    }
)
GOOD = "a-2024-01.csv"  # the champion's training batch, copied into cases that need it
DELETE = object()  # a patch value that removes the key


@dataclass(frozen=True)
class Case:
    """One kind of bad input: how to build it, which command meets it, what the line names."""

    id: str
    names: tuple[str, ...]
    command: str = "tune"
    config: dict[str, Any] = field(default_factory=dict)
    config_bytes: bytes | None = None
    no_config: bool = False  # the config file itself is missing
    files: dict[str, Callable[[], bytes]] = field(default_factory=dict)
    predict: tuple[str, str] | None = None  # input and output file names
    flags: tuple[str, ...] = ()  # options after the command's own (``--strict``)

    @property
    def via(self) -> str:
        return "process" if self.id in THROUGH_A_PROCESS else "cli"

    @property
    def needs_champion(self) -> bool:
        """check-drift and predict read the champion; the others fail before any store read."""
        return self.command in ("check-drift", "predict")


def frame(**changes: Any) -> pd.DataFrame:
    """The champion's training batch, 240 rows, with ``changes`` applied column by column."""
    table = batch(np.random.default_rng(0), "2024-01-01")
    for column, change in changes.items():
        table = change(table, column)
    return table


def csv(table: pd.DataFrame | None = None, **changes: Any) -> Callable[[], bytes]:
    return lambda: (table if table is not None else frame(**changes)).to_csv(index=False).encode()


def put(row: int, value: Any) -> Callable[[pd.DataFrame, str], pd.DataFrame]:
    def change(table: pd.DataFrame, column: str) -> pd.DataFrame:
        table = table.astype({column: object})
        table.loc[row, column] = value
        return table

    return change


def drop(table: pd.DataFrame, column: str) -> pd.DataFrame:
    return table.drop(columns=column)


def fill(value: Any) -> Callable[[pd.DataFrame, str], pd.DataFrame]:
    return lambda table, column: table.assign(**{column: value})


def header(text: str) -> Callable[[], bytes]:
    return lambda: text.encode()


def raw(data: bytes) -> Callable[[], bytes]:
    return lambda: data


def duplicated_x1() -> bytes:
    table = frame()
    table.insert(4, "x1_copy", table["x1"])
    text = table.to_csv(index=False)
    return text.replace("x1_copy", "x1", 1).encode()


def cut_csv() -> bytes:
    """The batch cut 20 characters into its last row, as a copy or a crash leaves it."""
    text = frame().to_csv(index=False)
    return text[: text.rindex("\n", 0, len(text) - 1) + 21].encode()


def cut_parquet() -> bytes:
    """A real Parquet file missing its last kilobyte (its footer), as a writer mid-file."""
    import io

    buffer = io.BytesIO()
    frame().to_parquet(buffer, index=False)
    return buffer.getvalue()[:-1024]


def later() -> pd.DataFrame:
    """A batch from February 2024, after the champion's January."""
    return batch(np.random.default_rng(3), "2024-02-01")


def dated(start: str) -> Callable[[], bytes]:
    return csv(batch(np.random.default_rng(3), start))


def latin1_colour() -> bytes:
    return frame(colour=put(3, "café")).to_csv(index=False).encode("latin-1")


def good() -> dict[str, Callable[[], bytes]]:
    return {f"incoming/{GOOD}": csv()}


def write_case(case: Case, folder: Path, store_uri: str) -> Path:
    """Write the case's files and config into ``folder``; returns the config's path."""
    for name, make in case.files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(make())
    (folder / "incoming").mkdir(exist_ok=True)
    path = folder / "driftune.yaml"
    if case.no_config:
        return path
    if case.config_bytes is not None:
        path.write_bytes(case.config_bytes)
        return path
    config = merge(copy.deepcopy(BASE), {"tracking": {"uri": store_uri}})
    path.write_text(yaml.safe_dump(merge(config, case.config)))
    return path


def merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    for key, value in patch.items():
        if value is DELETE:
            base.pop(key, None)
        elif isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = value
    return base


def space(**params: dict[str, Any]) -> dict[str, Any]:
    return {"search": {"space": params}}


CONFIG_CASES = [
    Case("config-missing-file", ("driftune.yaml", "no such config file"), no_config=True),
    Case(
        "config-yaml-syntax",
        ("driftune.yaml", "not valid YAML", "line 2"),
        config_bytes=b"name: toy\ndataset: {path: [unclosed\n",
    ),
    Case(
        "config-not-utf8",
        ("driftune.yaml", "not UTF-8"),
        config_bytes="name: toy\n# réglages\n".encode("latin-1"),
    ),
    Case("config-not-a-mapping", ("driftune.yaml", "mapping"), config_bytes=b"- name\n- toy\n"),
    Case("config-missing-dataset", ("dataset", "Field required"), config={"dataset": DELETE}),
    Case("config-missing-label", ("dataset.label",), config={"dataset": {"label": DELETE}}),
    Case("config-missing-name", ("name",), config={"name": DELETE}),
    Case("config-unknown-key", ("colour", "Extra inputs"), config={"colour": "blue"}),
    Case("config-unknown-section-key", ("search.roundz",), config={"search": {"roundz": 3}}),
    Case("config-wrong-type", ("search.rounds", "integer"), config={"search": {"rounds": "x"}}),
    Case("config-rounds-zero", ("search.rounds",), config={"search": {"rounds": 0}}),
    Case("config-bad-name", ("name",), config={"name": "has space"}),
    Case(
        "config-validation-fraction", ("window.validation",), config={"window": {"validation": 1.5}}
    ),
    Case("config-min-rows", ("window.min_rows",), config={"window": {"min_rows": 1}}),
    Case("config-periods", ("window.periods",), config={"window": {"periods": 0}}),
    Case(
        "config-drift-correction", ("drift.correction",), config={"drift": {"correction": "sidak"}}
    ),
    Case(
        "config-promotion-confidence",
        ("promotion.confidence",),
        config={"promotion": {"confidence": 0.3}},
    ),
    Case(
        "config-dask-without-address",
        ("runner", "dask_address"),
        config={"runner": {"kind": "dask"}},
    ),
    Case(
        "config-batch-rule",
        ("dataset.every", "fortnight"),
        config={"dataset": {"every": "fortnight"}},
    ),
    Case(
        "config-label-as-feature",
        ("dataset", "label column 'label'"),
        config={"dataset": {"features": ["x1", "label"]}},
    ),
    Case(
        "config-tracking-file-uri",
        ("tracking.uri", "file store"),
        config={"tracking": {"uri": "file:///tmp/mlruns"}},
    ),
    Case(
        "config-tracking-unknown-scheme",
        ("tracking.uri", "'ftp'"),
        config={"tracking": {"uri": "ftp://host/mlflow"}},
    ),
    Case(
        "config-tracking-bare-path",
        ("tracking.uri", "file store"),
        config={"tracking": {"uri": "mlruns"}},
    ),
    Case(
        "config-cron-drift-check",
        ("schedules.drift_check", "cron"),
        config={"schedules": {"drift_check": "every hour"}},
    ),
    Case(
        "config-cron-retune-at-serve",
        ("schedules.retune", "61 * * * *"),
        command="serve",
        config={"schedules": {"retune": "61 * * * *"}},
    ),
    Case(
        "config-timezone",
        ("schedules.timezone", "Mars/Olympus"),
        config={"schedules": {"timezone": "Mars/Olympus"}},
    ),
    Case(
        "space-unknown-kind",
        ("search.space", "learning_rate", "gaussian"),
        config=space(learning_rate={"type": "gaussian", "low": 0, "high": 1}),
    ),
    Case(
        "space-readme-kind-bad-bound",
        ("search.space", "learning_rate", "LogUniform needs"),
        config=space(learning_rate={"type": "LogUniform", "low": 0, "high": 1}),
    ),
    Case(
        "space-unknown-parameter",
        ("search.space", "wings"),
        config=space(wings={"type": "IntUniform", "low": 1, "high": 3}),
    ),
    Case(
        "space-choice-not-a-setting",
        ("search.space", "activation", "banana"),
        config=space(activation={"type": "choice", "values": ["relu", "banana"]}),
    ),
    Case(
        "space-bound-not-a-setting",
        ("search.space", "batch_size", "1 is not"),
        config=space(batch_size={"type": "PowerOfTwo", "low": 1, "high": 64}),
    ),
    Case(
        "space-float-for-whole-number",
        ("search.space", "n_layers", "whole number"),
        config=space(n_layers={"type": "Uniform", "low": 1, "high": 3}),
    ),
    Case(
        "space-and-fixed-overlap",
        ("search.space", "max_epochs", "search.fixed"),
        config=space(max_epochs={"type": "IntUniform", "low": 2, "high": 9}),
    ),
    Case(
        "config-marker-not-a-suffix",
        ("dataset.marker",),
        config={"dataset": {"marker": "ok"}},
    ),
    Case(
        "config-duplicates-policy",
        ("dataset.duplicates", "'refuse' or 'skip'"),
        config={"dataset": {"duplicates": "ignore"}},
    ),
    Case("config-negative-settle", ("dataset.settle_s",), config={"dataset": {"settle_s": -1}}),
    Case(
        "config-settle-not-a-number",
        ("dataset.settle_s",),
        config={"dataset": {"settle_s": "soon"}},
    ),
    Case(
        "config-out-of-order-policy",
        ("dataset.out_of_order", "'refuse' or 'skip'"),
        config={"dataset": {"out_of_order": "warn"}},
    ),
    Case(
        "fixed-unknown-setting",
        ("search.fixed", "epochs"),
        config={"search": {"fixed": {"epochs": 3}}},
    ),
    Case(
        "fixed-bad-value",
        ("search.fixed", "patience"),
        config={"search": {"fixed": {"patience": 0}}},
    ),
]

DATA_CASES = [
    Case(
        "data-missing-file",
        ("nope.csv", "no such file"),
        config={"dataset": {"path": "nope.csv", "every": "MS"}},
    ),
    Case(
        "data-missing-folder",
        ("nope", "no such file or folder"),
        config={"dataset": {"path": "nope"}},
    ),
    Case("data-empty-file", (GOOD, "empty"), files={f"incoming/{GOOD}": raw(b"")}),
    Case(
        "data-header-only",
        (GOOD, "no rows"),
        files={f"incoming/{GOOD}": header("when,x1,x2,colour,label\n")},
    ),
    Case("data-empty-folder", ("incoming", "no .csv or .parquet")),
    Case(
        "data-unreadable-parquet",
        ("a.parquet", "not whole yet", "Parquet footer"),
        files={"incoming/a.parquet": raw(b"PAR1 this is no parquet")},
    ),
    Case(
        "data-unknown-extension",
        ("data.txt", "unsupported file type"),
        config={"dataset": {"path": "data.txt", "every": "MS"}},
        files={"data.txt": csv()},
    ),
    Case(
        "data-not-utf8",
        (GOOD, "not UTF-8"),
        files={f"incoming/{GOOD}": latin1_colour},
    ),
    Case(
        "data-missing-label",
        (GOOD, "'label'", "missing"),
        files={f"incoming/{GOOD}": csv(label=drop)},
    ),
    Case(
        "data-missing-time",
        (GOOD, "'when'", "missing"),
        files={f"incoming/{GOOD}": csv(when=drop)},
    ),
    Case(
        "data-missing-feature",
        (GOOD, "'humidity'", "missing"),
        config={"dataset": {"features": ["x1", "humidity"]}},
        files=good(),
    ),
    Case(
        "data-column-name-with-brackets",
        ("'speed [m/s]'", "declared feature column is missing"),
        config={"dataset": {"features": ["x1", "speed [m/s]"]}},
        files=good(),
    ),
    Case(
        "data-unparseable-dates",
        (GOOD, "'when'", "the fifth of never", "data row 10"),
        files={f"incoming/{GOOD}": csv(when=put(9, "the fifth of never"))},
    ),
    Case(
        "data-all-missing-feature",
        (GOOD, "'x2'", "no values"),
        files={f"incoming/{GOOD}": csv(x2=fill(np.nan))},
    ),
    Case(
        "data-inf",
        (GOOD, "'x1'", "inf", "row 8"),
        files={f"incoming/{GOOD}": csv(x1=put(7, np.inf))},
    ),
    Case(
        "data-minus-inf",
        (GOOD, "'x2'", "-inf"),
        files={f"incoming/{GOOD}": csv(x2=put(0, -np.inf))},
    ),
    Case(
        "data-duplicated-column",
        (GOOD, "'x1'", "2 times"),
        files={f"incoming/{GOOD}": duplicated_x1},
    ),
    Case(
        "data-text-in-numbers-one-file",
        (GOOD, "'x1'", "'12,5'", "row 5"),
        files={f"incoming/{GOOD}": csv(x1=put(4, "12,5"))},
    ),
    Case(
        "data-text-in-declared-numeric",
        (GOOD, "'x2'", "'n/a yet'"),
        config={"dataset": {"numeric": ["x1", "x2"], "categorical": ["colour"]}},
        files={f"incoming/{GOOD}": csv(x2=fill("n/a yet"))},
    ),
    Case(
        "data-text-in-numbers-across-files",
        ("b-2024-02.csv", "'x1'", f"numeric in {GOOD}"),
        config={"window": {"periods": 2}},
        files={**good(), "incoming/b-2024-02.csv": csv(x1=fill("missing"))},
    ),
    Case(
        "data-cut-csv",
        (GOOD, "not whole yet", "last line has no end"),
        files={f"incoming/{GOOD}": cut_csv},
    ),
    Case(
        "data-cut-parquet",
        ("a.parquet", "not whole yet", "Parquet footer"),
        files={"incoming/a.parquet": cut_parquet},
    ),
    Case(
        "data-marker-not-there",
        (GOOD, "not whole yet", f"{GOOD}.ok"),
        config={"dataset": {"marker": ".ok"}},
        files=good(),
    ),
    Case(
        "data-only-hidden-files",
        ("incoming", "no .csv or .parquet"),
        files={"incoming/.a-2024-01.csv": csv(), "incoming/b.csv.tmp": csv()},
    ),
    Case(
        "data-copied-batch",
        ("b-copy.csv", f"same rows as {GOOD}", "dataset.duplicates"),
        files={**good(), "incoming/b-copy.csv": csv()},
    ),
    Case(
        "data-fractional-labels",
        (GOOD, "'label'", "fractional"),
        files={
            f"incoming/{GOOD}": csv(label=lambda table, _: table.assign(label=table.x1.round(2)))
        },
    ),
    Case(
        "data-single-class",
        ("'label'", "two classes"),
        files={f"incoming/{GOOD}": csv(label=fill("yes"))},
    ),
    # 40 rows: each split one fraction short of the default window.min_rows (10).
    Case(
        "data-too-few-train",
        ("incoming", "8 train", "too few in train", "window.min_rows is 10", "window.validation"),
        config={"window": {"validation": 0.4, "holdout": 0.4}},
        files={f"incoming/{GOOD}": lambda: frame().head(40).to_csv(index=False).encode()},
    ),
    Case(
        "data-too-few-validation",
        ("incoming", "8 validation", "too few in validation", "window.min_rows"),
        config={"window": {"validation": 0.2, "holdout": 0.3}},
        files={f"incoming/{GOOD}": lambda: frame().head(40).to_csv(index=False).encode()},
    ),
    Case(
        "data-too-few-holdout",
        ("incoming", "8 holdout", "too few in holdout", "window.holdout"),
        config={"window": {"validation": 0.3, "holdout": 0.2}},
        files={f"incoming/{GOOD}": lambda: frame().head(40).to_csv(index=False).encode()},
    ),
    Case(
        "data-five-row-window",
        ("window.min_rows is 10", "window.holdout"),
        files={f"incoming/{GOOD}": lambda: frame().head(5).to_csv(index=False).encode()},
    ),
]

NEW = "b-2024-02.csv"
DRIFT_CASES = [
    Case(
        "drift-inf-in-new-batch",
        (NEW, "'x1'", "inf"),
        command="check-drift",
        files={**good(), f"incoming/{NEW}": csv(x1=put(3, np.inf))},
    ),
    Case(
        "drift-text-in-new-batch",
        (NEW, "'x2'", "'broken'"),
        command="check-drift",
        files={**good(), f"incoming/{NEW}": csv(x2=put(3, "broken"))},
    ),
    Case(
        "drift-missing-feature",
        (NEW, "x2"),
        command="check-drift",
        config={"dataset": {"features": ["x1", "x2", "colour"]}},
        files={**good(), f"incoming/{NEW}": csv(x2=drop)},
    ),
    Case(
        "drift-missing-inferred-feature",
        (NEW, "'x2'", "missing"),
        command="check-drift",
        files={**good(), f"incoming/{NEW}": csv(later().drop(columns="x2"))},
    ),
    Case(
        "drift-batch-older-than-champion",
        (NEW, "not newer than the champion's data", "dataset.out_of_order"),
        command="check-drift",
        files={**good(), f"incoming/{NEW}": dated("2023-06-01")},
    ),
    Case(
        "drift-copy-in-period-mode",
        (NEW, f"same rows as {GOOD}"),
        command="check-drift",
        config={"dataset": {"every": "MS"}},
        files={**good(), f"incoming/{NEW}": csv()},
    ),
    Case(
        "drift-copy-of-checked-batch",
        (NEW, f"same rows as {GOOD}"),
        command="check-drift",
        files={**good(), f"incoming/{NEW}": csv()},
    ),
]

NO_LABEL = {"label": drop}
PREDICT_CASES = [
    Case(
        "predict-missing-input",
        ("new.csv", "no such file"),
        command="predict",
        predict=("new.csv", "out.csv"),
        files=good(),
    ),
    Case(
        "predict-missing-feature",
        names=("new.csv", "'x2'", "missing"),
        command="predict",
        predict=("new.csv", "out.csv"),
        files={**good(), "new.csv": csv(x2=drop, **NO_LABEL)},
    ),
    Case(
        "predict-text-in-numeric",
        names=("new.csv", "'x1'", "'oops'"),
        command="predict",
        predict=("new.csv", "out.csv"),
        files={**good(), "new.csv": csv(x1=put(2, "oops"), **NO_LABEL)},
    ),
    Case(
        "predict-inf",
        names=("new.csv", "'x2'", "inf"),
        command="predict",
        predict=("new.csv", "out.csv"),
        files={**good(), "new.csv": csv(x2=put(2, np.inf), **NO_LABEL)},
    ),
    Case(
        "predict-output-suffix",
        ("out.xlsx", ".csv or .parquet"),
        command="predict",
        predict=("new.csv", "out.xlsx"),
        files={**good(), "new.csv": csv(**NO_LABEL)},
    ),
    Case(
        "predict-input-suffix",
        ("new.json", "unsupported file type"),
        command="predict",
        predict=("new.json", "out.csv"),
        files={**good(), "new.json": raw(b"{}")},
    ),
    Case(
        "predict-duplicated-column",
        ("new.csv", "'x1'", "2 times"),
        command="predict",
        predict=("new.csv", "out.csv"),
        files={**good(), "new.csv": duplicated_x1},
    ),
    # Values outside the champion's data contract: scored with a warning, refused by --strict.
    Case(
        "predict-strict-unseen-category",
        names=("new.csv", "'colour'", "'purple'", "--strict"),
        command="predict",
        predict=("new.csv", "out.csv"),
        flags=("--strict",),
        files={**good(), "new.csv": csv(colour=put(2, "purple"), **NO_LABEL)},
    ),
    Case(
        "predict-strict-missing-value",
        names=("new.csv", "'x1'", "1 missing value(s), where training had none", "--strict"),
        command="predict",
        predict=("new.csv", "out.csv"),
        flags=("--strict",),
        files={**good(), "new.csv": csv(x1=put(2, None), **NO_LABEL)},
    ),
    Case(
        "predict-strict-empty-feature",
        names=("new.csv", "'colour'", "240 missing value(s)", "--strict"),
        command="predict",
        predict=("new.csv", "out.csv"),
        flags=("--strict",),
        files={**good(), "new.csv": csv(colour=fill(None), **NO_LABEL)},
    ),
    Case(
        "predict-strict-out-of-range",
        names=("new.csv", "'x2'", "outside the training range", "1 above", "--strict"),
        command="predict",
        predict=("new.csv", "out.csv"),
        flags=("--strict",),
        files={**good(), "new.csv": csv(x2=put(2, 1e6), **NO_LABEL)},
    ),
    Case(
        "predict-empty-input",
        ("new.csv", "no rows"),
        command="predict",
        predict=("new.csv", "out.csv"),
        files={**good(), "new.csv": header("when,x1,x2,colour\n")},
    ),
]

CASES = CONFIG_CASES + DATA_CASES + DRIFT_CASES + PREDICT_CASES
