"""The champion's data contract, end to end: a real `tune` on Parquet, `predict` and
`check-drift` on the same kind of rows saved as CSV.

The project's categorical ``code`` decides most labels. Parquet stores the codes as text
(``"21"``); pandas reads the same codes from a CSV as integers (``21``). Before the contract, a
champion tuned on the Parquet encoded every CSV code as unknown and predicted one class for
every row, exit 0.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from data.errors import DataError
from flows.cli.app import app
from flows.cli.predict import score_file
from flows.config import load_config
from flows.store.model_files import CONTRACT_FILE
from flows.store.project import open_store
from flows.store.registry import SHA256_PREFIX, champion
from tests.flow_tests.projects import TINY_SEARCH

pytestmark = pytest.mark.slow
runner = CliRunner()
CODES = np.array([3, 7, 12, 21, 40])
YES = {3: 0.9, 7: 0.1, 12: 0.85, 21: 0.15, 40: 0.5}  # P(label "yes") for each code


def coded_rows(seed: int, start: str, n: int = 400) -> pd.DataFrame:
    """Rows whose label depends mostly on ``code`` (integers here; the tests pick the file type)."""
    rng = np.random.default_rng(seed)
    code = rng.choice(CODES, n)
    x1 = rng.normal(0.0, 1.0, n)
    p_yes = np.vectorize(YES.get)(code) + 0.05 * x1
    label = np.where(rng.random(n) < p_yes, "yes", "no")
    return pd.DataFrame(
        {
            "when": pd.date_range(start, periods=n, freq="h"),
            "x1": x1,
            "code": code,
            "label": label,
        }
    )


def as_text_codes(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(code=frame["code"].astype(str))


@pytest.fixture(scope="module")
def project(
    tmp_path_factory: pytest.TempPathFactory, prefect_server: None, template_store: Path
) -> Path:
    """A project tuned once, on one Parquet batch whose codes are text; returns its config."""
    root = tmp_path_factory.mktemp("contract")
    (root / "incoming").mkdir()
    (root / ".driftune").mkdir()
    (root / ".driftune" / "mlflow.db").write_bytes(template_store.read_bytes())
    as_text_codes(coded_rows(0, "2024-01-01")).to_parquet(root / "incoming" / "a-2024-01.parquet")
    config = {
        "name": "coded",
        "dataset": {
            "path": "incoming",
            "label": "label",
            "time": "when",
            "every": "file",
            "features": ["x1", "code"],
            "categorical": ["code"],
        },
        "window": {"periods": 1, "validation": 0.25, "holdout": 0.25},
        "search": TINY_SEARCH,
        "promotion": {"n_boot": 200},
    }
    path = root / "driftune.yaml"
    path.write_text(yaml.safe_dump(config))
    result = runner.invoke(app, ["tune", "--config", str(path)])
    assert result.exit_code == 0, result.output
    return path


def predict(project: Path, source: Path, target: Path, *extra: str) -> tuple[int, str]:
    args = ["predict", str(source), str(target), "-c", str(project), *extra]
    result = runner.invoke(app, args)
    return result.exit_code, result.output


def test_csv_codes_score_as_the_parquet_text_codes_the_champion_learned(
    project: Path, tmp_path: Path
) -> None:
    rows = coded_rows(5, "2024-03-01").drop(columns="label")
    as_text_codes(rows).to_parquet(tmp_path / "rows.parquet")
    rows.to_csv(tmp_path / "rows.csv", index=False)
    for name in ("rows.parquet", "rows.csv"):
        code, output = predict(project, tmp_path / name, tmp_path / f"{name}.scored.csv")
        assert code == 0, output
        assert "outside the champion's data contract" not in output, output
    from_parquet = pd.read_csv(tmp_path / "rows.parquet.scored.csv")
    from_csv = pd.read_csv(tmp_path / "rows.csv.scored.csv")
    assert from_csv["prediction"].nunique() == 2  # not one class for every row
    assert (from_csv["prediction"] == from_parquet["prediction"]).all()
    assert np.allclose(from_csv["proba_yes"], from_parquet["proba_yes"])
    truth = coded_rows(5, "2024-03-01")["label"]
    assert (from_csv["prediction"] == truth).mean() > 0.7


def test_the_contract_is_stored_with_the_version_and_hashed(project: Path) -> None:
    store = open_store(load_config(project))
    info = champion(store)
    assert info is not None
    assert SHA256_PREFIX + CONTRACT_FILE in info.tags


def test_unseen_missing_and_out_of_range_values_are_counted(project: Path, tmp_path: Path) -> None:
    rows = coded_rows(6, "2024-03-01", n=50).drop(columns="label")
    rows.loc[0:3, "code"] = 99  # 4 codes the champion never saw
    rows["x1"] = rows["x1"].astype(float)
    rows.loc[10:11, "x1"] = np.nan  # training had no missing x1
    rows.loc[20, "x1"] = 1e6  # far above the training range
    rows.to_csv(tmp_path / "odd.csv", index=False)
    code, output = predict(project, tmp_path / "odd.csv", tmp_path / "odd.scored.csv", "--json")
    assert code == 0, output
    document = json.loads(output[output.index("{") : output.rindex("}") + 1])
    columns = document["contract"]["columns"]
    assert columns["code"]["unseen"] == 4 and columns["code"]["unseen_examples"] == ["99"]
    assert columns["x1"]["missing"] == 2 and columns["x1"]["above_range"] == 1
    assert document["rows"] == 50 and not document["contract"]["clean"]
    code, output = predict(project, tmp_path / "odd.csv", tmp_path / "odd.plain.csv")
    assert code == 0, output
    assert "column 'code': 4 value(s) the champion never saw (e.g. '99')" in output, output
    assert "column 'x1': 2 missing value(s)" in output, output


def test_strict_refuses_values_outside_the_contract_and_writes_nothing(
    project: Path, tmp_path: Path
) -> None:
    rows = coded_rows(7, "2024-03-01", n=50).drop(columns="label")
    rows.loc[5, "code"] = 99
    rows.to_csv(tmp_path / "unseen.csv", index=False)
    target = tmp_path / "unseen.scored.csv"
    code, output = predict(project, tmp_path / "unseen.csv", target, "--strict")
    assert code == 1, output
    assert "Traceback" not in output and len(output.strip().splitlines()) == 1, output
    assert "unseen.csv" in output and "'code'" in output and "--strict" in output, output
    assert not target.exists()
    assert not list(tmp_path.glob(".unseen.scored.csv.*"))  # no half-written output left
    clean = coded_rows(8, "2024-03-01", n=50).drop(columns="label")
    clean.to_csv(tmp_path / "clean.csv", index=False)
    code, output = predict(project, tmp_path / "clean.csv", tmp_path / "clean.out.csv", "--strict")
    assert code == 0, output


def test_check_drift_holds_a_csv_batch_to_the_parquet_champion(project: Path) -> None:
    # The same distribution as the training batch, saved as CSV (integer codes): before the
    # contract every code was unknown to the champion, so its accuracy "dropped" to a coin flip.
    incoming = project.parent / "incoming"
    coded_rows(9, "2024-02-01").to_csv(incoming / "b-2024-02.csv", index=False)
    result = runner.invoke(app, ["check-drift", "-c", str(project), "--no-retune", "--json"])
    assert result.exit_code == 0, result.output
    output = result.stdout
    check = json.loads(output[output.index("{") : output.rindex("}") + 1])["check"]
    performance = check["report"]["performance"]
    assert performance["accuracy"] > 0.7, performance
    assert check["report"]["inputs"]["clean"], check["report"]["inputs"]


def test_pieces_write_what_one_piece_writes(project: Path, tmp_path: Path) -> None:
    rows = coded_rows(10, "2024-03-01", n=50).drop(columns="label")
    rows["note"] = pd.array([7] * 20 + [None] * 30, dtype="Int64")  # ints, then gaps only
    rows.to_csv(tmp_path / "rows.csv", index=False)
    for suffix in ("csv", "parquet"):
        whole, pieces = tmp_path / f"whole.{suffix}", tmp_path / f"pieces.{suffix}"
        score_file(project, tmp_path / "rows.csv", whole, chunk_rows=1000)
        done = score_file(project, tmp_path / "rows.csv", pieces, chunk_rows=7)
        assert done.rows == 50
        read = pd.read_csv if suffix == "csv" else pd.read_parquet
        pd.testing.assert_frame_equal(read(pieces), read(whole))
    rows["note"] = ["7"] * 20 + ["seven"] * 30  # numbers in the first piece, text later
    rows.to_csv(tmp_path / "changing.csv", index=False)
    with pytest.raises(DataError, match=r"column 'note' changes type between pieces"):
        score_file(project, tmp_path / "changing.csv", tmp_path / "out.parquet", chunk_rows=7)
    assert not list(tmp_path.glob("*out.parquet*"))  # nothing half-written left behind
