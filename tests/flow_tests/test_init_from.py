"""`driftune init --from DATA`: a config guessed from the user's file or folder, through the CLI.

On the shipped datasets the guesses must match what deploy/configs/ states by hand; on a
generated folder of CSV and Parquet files they must find the label, the dates, the batch files
and the columns that cannot help. A label no classifier can use is one line, and no file.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from data.loading import batches
from data.samples import sample_path
from flows.cli.app import app
from flows.cli.init_template import POLICY
from flows.config import load_config
from tests.flow_tests.probe import probe

runner = CliRunner()
DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "configs"


def _unwrapped(path: Path) -> str:
    """The config's text with each wrapped comment joined back into one line."""
    return re.sub(r"\n\s*# (?!\S+:)", " ", path.read_text())


def _init(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["init", *args])
    return result.exit_code, result.output


@pytest.mark.parametrize("name", ["seattle-weather", "rainfall", "portal-rodents"])
def test_a_shipped_dataset_gets_the_dataset_section_its_deploy_config_states(
    name: str, tmp_path: Path
) -> None:
    target = tmp_path / "driftune.yaml"
    code, output = _init(str(target), "--from", str(sample_path(f"{name}.csv")))
    assert code == 0, output
    assert output.strip().splitlines()[-1] == f"next: `driftune backtest -c {target}`"
    config = load_config(target)
    shipped = yaml.safe_load((DEPLOY / f"{name}.yaml").read_text())["dataset"]
    assert config.dataset.path == sample_path(f"{name}.csv")
    assert config.dataset.label == shipped["label"]
    assert config.dataset.time == shipped.get("time")
    declared = set(config.dataset.numeric or ()) | set(config.dataset.categorical or ())
    assert declared == set(pd.read_csv(config.dataset.path, nrows=1).columns) - {
        shipped["label"],
        shipped.get("time"),
    }
    if "categorical" in shipped:  # text columns are categories; plot_id is a number to pandas
        assert set(config.dataset.categorical or ()) == set(shipped["categorical"]) - {"plot_id"}
    if name == "seattle-weather":
        assert config.dataset.every == shipped["every"] == "YS"
    ordered = list(batches(config.spec()))
    assert len(ordered) >= 4, "a backtest needs a first batch to tune on and more to replay"
    assert POLICY.format() in target.read_text(), "the policy sections are init's defaults"
    assert "# the last column; pass --label COL" in _unwrapped(target)  # each guess says why


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)


def _folder(root: Path) -> Path:
    """Six monthly batch files, CSV and Parquet, with an id column and a constant one."""
    rng = np.random.default_rng(0)
    folder = root / "exports"
    folder.mkdir()
    for month in range(1, 7):
        n = 120
        frame = pd.DataFrame(
            {
                "order_id": [f"o{month}-{i}" for i in range(n)],
                "ordered_at": pd.date_range(f"2024-{month:02d}-01", periods=n, freq="h").astype(
                    str
                ),
                "amount": rng.gamma(2.0, 30.0, n),
                "items": rng.integers(1, 9, n),
                "shop": rng.choice(["north", "south", "online"], n),
                "source": "export-v1",
                "churned": rng.choice(["yes", "no"], n, p=[0.15, 0.85]),
            }
        )
        path = folder / f"2024-{month:02d}"
        if month % 2:
            frame.to_parquet(path.with_suffix(".parquet"), index=False)
        else:
            frame.to_csv(path.with_suffix(".csv"), index=False)
    return folder


def test_a_folder_of_files_is_batched_by_file_and_useless_columns_are_left_out(
    tmp_path: Path,
) -> None:
    folder = _folder(tmp_path)
    target = tmp_path / "driftune.yaml"
    code, output = _init(str(target), "--from", str(folder))
    assert code == 0, output
    config = load_config(target)
    dataset = config.dataset
    assert (dataset.label, dataset.time, dataset.every) == ("churned", "ordered_at", "file")
    assert dataset.numeric == ["amount", "items"] and dataset.categorical == ["shop"]
    text = _unwrapped(target)
    assert "path: exports" in text  # relative: the folder moves with the project
    assert "order_id: text with a different value in every row" in text
    assert "source: one value ('export-v1') in every row" in text
    assert "one batch per file (6 files" in text and "from 480 rows of 4 of its 6 files" in text
    assert "int64, 8 distinct: if these are codes, move it to categorical" in text
    files = sorted(folder.iterdir())
    sampled = pd.concat([_read(path) for path in [*files[:3], files[-1]]])
    majority = sampled["churned"].value_counts(normalize=True).max()
    assert f"always predicting the majority class already scores {majority:.0%}" in text
    assert [b.id for b in batches(config.spec())] == [
        f"2024-{m:02d}.{'parquet' if m % 2 else 'csv'}" for m in range(1, 7)
    ]


def test_a_dated_file_is_batched_by_the_coarsest_period_with_enough_batches(
    tmp_path: Path,
) -> None:
    """Five months of hourly rows: too few years or quarters, so one batch a month."""
    rows = 24 * 150
    frame = pd.DataFrame(
        {
            "x": np.arange(rows, dtype=float),
            "Timestamp": pd.date_range("2024-01-01", periods=rows, freq="h").astype(str),
            "kind": np.where(np.arange(rows) % 3 == 0, "a", "b"),
        }
    )
    source = tmp_path / "hours.csv"
    frame.to_csv(source, index=False)
    code, output = _init(str(tmp_path / "c.yaml"), "--from", str(source), "--label", "kind")
    assert code == 0, output
    config = load_config(tmp_path / "c.yaml")
    assert (config.dataset.time, config.dataset.every) == ("Timestamp", "MS")
    assert "5 batches of about 720 rows" in _unwrapped(tmp_path / "c.yaml")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--label", "amount"], "column 'amount': cannot be the label: continuous numbers"),
        (["--label", "source"], "column 'source': cannot be the label: one value ('export-v1')"),
        (["--label", "order_id"], "column 'order_id': cannot be the label: 480 distinct values"),
        (["--label", "churn"], "column 'churn': --label: no such column (columns: order_id,"),
        (["--time", "shop"], "column 'shop': cannot parse 480 value(s) as dates"),
    ],
)
def test_a_label_or_time_it_cannot_use_is_one_line_and_no_file(
    args: list[str], message: str, tmp_path: Path
) -> None:
    folder = _folder(tmp_path)
    target = tmp_path / "driftune.yaml"
    code, output = _init(str(target), "--from", str(folder), *args)
    assert code == 1
    assert message in output and f"file {folder}" in output, output
    assert len(output.strip().splitlines()) == 1 and "Traceback" not in output
    assert not target.exists()


def test_plain_init_points_at_the_backtest_and_label_needs_from(tmp_path: Path) -> None:
    target = tmp_path / "driftune.yaml"
    code, output = _init(str(target))
    assert code == 0 and "next: `driftune backtest -c" in output, output
    code, output = _init(str(tmp_path / "other.yaml"), "--label", "y")
    assert code == 1 and "--label and --time go with --from DATA" in output


def test_init_from_loads_no_flow_machinery(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    code, loaded, output = probe("init", "new.yaml", "--from", str(folder), cwd=tmp_path)
    assert code == 0, output
    assert not loaded & {"prefect", "mlflow", "torch", "sklearn"}, sorted(loaded)


@pytest.mark.slow
def test_from_a_folder_to_a_backtest_table_with_two_commands(
    tmp_path: Path, prefect_server: None
) -> None:
    """The README's path for a user's own data: `init --from`, then `backtest`, nothing edited."""
    folder = _folder(tmp_path)
    for late in sorted(folder.iterdir())[4:]:
        late.unlink()  # four monthly files: a first tune and three batches replayed
    config = tmp_path / "driftune.yaml"
    code, output = _init(str(config), "--from", str(folder))
    assert code == 0, output
    result = runner.invoke(app, ["backtest", "-c", str(config)])
    assert result.exit_code == 0, result.output
    table = result.output
    assert "backtest of exports" in table and "first tune" in table
    for month in ("2024-02.csv", "2024-03.parquet", "2024-04.csv"):
        assert month in table
    assert (tmp_path / ".driftune" / "backtest" / "backtest.json").is_file()
