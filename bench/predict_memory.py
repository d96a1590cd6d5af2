"""Benchmark: peak memory and throughput of `driftune predict` on a multi-million-row CSV.

A toy project (when, x1, x2, colour -> label; 2,000 rows) is tuned once with a tiny search; then
a CSV of ``--rows`` unlabelled rows of the same kind (6.1 M by default, about 200 MB, the size
issue 22 measured) is generated in a temporary folder, a piece at a time. `driftune predict`
scores it as a whole process, once with this tree's code ("after": read, scored and written in
pieces) and once with the code of ``--before`` (default ``main``; exported with ``git archive``
into a temporary folder and put first on ``PYTHONPATH``), alternating ``--repeats`` times so
both meet the same load on the machine.

Peak memory is the process's maximum resident set size as the kernel counts it
(``getrusage(RUSAGE_CHILDREN).ru_maxrss`` read by a wrapper process that runs only that one
command), so no sampling can miss a peak. Targets (issue 22): after <= 600 MB, whatever the input
size; throughput within 20% of before's.

Run from the repository root (about 10 minutes at the default size, with 5 GB of memory free
for the before run):

    .venv/bin/python bench/predict_memory.py [--rows 6100000] [--repeats 2] [--before main]

Writes bench/results/predict_memory.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "predict_memory.json"
TARGET_PEAK_MB = 600
TARGET_THROUGHPUT = 0.8  # after's rows per second at least this share of before's
ENV = {
    **os.environ,
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
}
# Runs one command and prints its peak RSS in kB (Linux counts ru_maxrss in kB).
PEAK = (
    "import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
    "sys.exit(code)"
)


def rows_like(rng: np.random.Generator, n: int, start: int = 0) -> pd.DataFrame:
    x1, x2 = rng.normal(0.0, 1.0, n), rng.normal(0.0, 1.0, n)
    colour = rng.choice(["red", "green", "blue"], n)
    frame = pd.DataFrame(
        {
            "when": pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(start, start + n), "s"),
            "x1": x1.round(6),
            "x2": x2.round(6),
            "colour": colour,
        }
    )
    return frame


def make_project(root: Path) -> Path:
    """A toy project tuned with a tiny search; returns its config."""
    rng = np.random.default_rng(0)
    batch = rows_like(rng, 2000)
    batch["label"] = np.where(batch["x1"] + batch["x2"] + (batch["colour"] == "red") > 0, "y", "n")
    (root / "incoming").mkdir(parents=True)
    batch.to_csv(root / "incoming" / "a.csv", index=False)
    config = {
        "name": "bench",
        "dataset": {"path": "incoming", "label": "label", "time": "when", "every": "file"},
        "window": {"periods": 1, "validation": 0.2, "holdout": 0.2},
        "search": {
            "rounds": 1,
            "trials_per_round": 2,
            "top_k": 1,
            "seed": 0,
            "fixed": {"max_epochs": 4},
        },
    }
    path = root / "driftune.yaml"
    path.write_text(yaml.safe_dump(config))
    driftune = str(Path(sys.executable).parent / "driftune")
    subprocess.run([driftune, "tune", "-c", str(path)], check=True, env=ENV, cwd=root)
    return path


def stop_server(config: Path) -> None:
    """Stop the project's local Prefect server, which `driftune tune` started and keeps."""
    driftune = str(Path(sys.executable).parent / "driftune")
    subprocess.run([driftune, "server", "stop", "-c", str(config)], env=ENV, check=False)


def write_big_csv(path: Path, n_rows: int, piece: int = 500_000) -> None:
    rng = np.random.default_rng(1)
    with path.open("w") as handle:
        for start in range(0, n_rows, piece):
            frame = rows_like(rng, min(piece, n_rows - start), start)
            frame.to_csv(handle, index=False, header=start == 0)


def export(revision: str, folder: Path) -> Path:
    """The code of ``revision`` (its flows/, data/, models/) in ``folder``, via git archive."""
    archive = folder / "before.tar"
    subprocess.run(
        ["git", "archive", "-o", str(archive), revision, "flows", "data", "models"],
        check=True,
        cwd=ROOT,
    )
    with tarfile.open(archive) as tar:
        tar.extractall(folder / "before", filter="data")
    return folder / "before"


def predict_once(config: Path, source: Path, target: Path, code: Path | None) -> dict[str, float]:
    """One `driftune predict` process: its peak RSS and wall time; ``code`` replaces the tree's."""
    env = dict(ENV)
    if code is not None:
        env["PYTHONPATH"] = str(code)
    command = [sys.executable, "-m", "flows.cli", "predict", str(source), str(target)]
    command += ["-c", str(config), "--overwrite"]
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", PEAK, *command],
        env=env,
        cwd=code or ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"predict failed ({code or 'after'}): {done.stdout}{done.stderr}")
    peak_kb = int(done.stderr.strip().splitlines()[-1])
    return {"peak_mb": peak_kb / 1024, "wall_s": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=6_100_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--before", default="main", help="git revision of the 'before' code")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="driftune-bench-predict-") as folder:
        root = Path(folder)
        config = make_project(root / "project")
        source = root / "big.csv"
        write_big_csv(source, args.rows)
        before_code = export(args.before, root)
        runs: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
        for _ in range(args.repeats):
            runs["after"].append(predict_once(config, source, root / "after.csv", None))
            runs["before"].append(predict_once(config, source, root / "before.csv", before_code))
        same = _same_scores(root / "before.csv", root / "after.csv")
        size_mb = source.stat().st_size / 2**20
        stop_server(config)
    summary = {name: _summary(found, args.rows) for name, found in runs.items()}
    ratio = summary["after"]["rows_per_s"] / summary["before"]["rows_per_s"]
    document: dict[str, Any] = {
        "benchmark": "predict_memory",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average_after": os.getloadavg(),
        },
        "rows": args.rows,
        "csv_mb": round(size_mb, 1),
        "before_revision": args.before,
        "repeats": args.repeats,
        "before": summary["before"],
        "after": summary["after"],
        "throughput_after_over_before": round(ratio, 3),
        "same_predictions": same,
        "targets": {
            "peak_mb_at_most": TARGET_PEAK_MB,
            "throughput_share_at_least": TARGET_THROUGHPUT,
            "peak_met": summary["after"]["peak_mb"] <= TARGET_PEAK_MB,
            "throughput_met": ratio >= TARGET_THROUGHPUT,
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    print(json.dumps(document, indent=2))


def _summary(found: list[dict[str, float]], rows: int) -> dict[str, Any]:
    wall = statistics.median(run["wall_s"] for run in found)
    return {
        "peak_mb": round(max(run["peak_mb"] for run in found), 1),
        "median_wall_s": round(wall, 2),
        "rows_per_s": round(rows / wall),
        "runs": found,
    }


def _same_scores(before: Path, after: Path) -> bool:
    """Both wrote the same predictions, row for row (compared a piece at a time)."""
    pieces = zip(
        pd.read_csv(before, chunksize=500_000, usecols=["prediction"]),
        pd.read_csv(after, chunksize=500_000, usecols=["prediction"]),
        strict=True,
    )
    return all(a["prediction"].equals(b["prediction"]) for a, b in pieces)


if __name__ == "__main__":
    main()
