"""Benchmark: a drift check's wall time and peak memory, driftune against Evidently's preset.

Tables of 10k, 100k and 1M rows x 50 numeric features (10 of them drifted: 5 mean shifts of 0.3
standard deviations, 5 spreads 1.3x wider). Cases, each in a fresh subprocess:

- ``driftune``: ``detect_drift(reference_frame, current)`` with its defaults (above 50,000 rows
  each side is subsampled with the seed, and the report says so);
- ``driftune_profile``: ``detect_drift(profile, current)`` against a ``ReferenceProfile`` built
  beforehand, as the scheduled check runs it (building the profile is timed separately);
- ``driftune_all_rows``: ``detect_drift(reference_frame, current, max_rows=None)``, every row;
- ``evidently``: ``Report([DataDriftPreset()]).run(current, reference)`` (Evidently 0.7).

Wall time: median over repeats. Peak memory: the kernel's peak RSS during the first run minus the
RSS just before it (the mark is reset through /proc/self/clear_refs), against the two tables' size.

Run from the repository root (takes ~20 minutes, most of it Evidently at 1M rows):

    .venv/bin/python bench/drift_speed.py [--sizes 10000 100000 1000000] [--repeats 3]

Evidently 0.7 does not import with pandas 3, so it lives in its own venv, run as a subprocess:

    python3 -m venv bench/.venv-evidently
    bench/.venv-evidently/bin/pip install evidently 'pandas<3'

Writes bench/results/drift_speed.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "drift_speed.json"
EVIDENTLY_PYTHON = ROOT / "bench" / ".venv-evidently" / "bin" / "python"
FEATURES = 50
SHIFTED, WIDENED = 5, 5
CASES = ("driftune", "driftune_profile", "driftune_all_rows", "evidently")
TARGET_SPEEDUP, TARGET_MEMORY_RATIO = 20.0, 2.0


def make_tables(rows: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and current tables; numpy only, so both venvs build the same data."""
    rng = np.random.default_rng(seed)
    mu, sigma = rng.normal(0, 5, FEATURES), rng.uniform(0.5, 3, FEATURES)
    reference, current = {}, {}
    for j in range(FEATURES):
        name = f"f{j:02d}"
        reference[name] = rng.normal(mu[j], sigma[j], rows)
        shift = 0.3 * sigma[j] if j < SHIFTED else 0.0
        spread = 1.3 if SHIFTED <= j < SHIFTED + WIDENED else 1.0
        current[name] = rng.normal(mu[j] + shift, sigma[j] * spread, rows)
    return pd.DataFrame(reference), pd.DataFrame(current)


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _peak_extra_bytes(run: Any) -> tuple[Any, int]:
    """Run once; return its result and the peak RSS above the RSS before it."""
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    before = _status_kb("VmRSS")
    result = run()
    return result, (_status_kb("VmHWM") - before) * 1024


def worker(case: str, rows: int, repeats: int) -> dict[str, Any]:
    """One case in this process: warm up, build the tables, time repeats, measure memory once.

    The warm-up (the same case on 1,000 rows) keeps one-off costs out of both tools' figures:
    lazy imports, compiled-code initialisation, caches. A scheduled check pays them once.
    """
    small_reference, small_current = make_tables(1_000, seed=1)
    _case_runner(case, small_reference, small_current, {})()
    del small_reference, small_current
    reference, current = make_tables(rows)
    tables_bytes = int(reference.memory_usage().sum() + current.memory_usage().sum())
    extra: dict[str, Any] = {}
    run = _case_runner(case, reference, current, extra)
    start = time.perf_counter()
    drifted, peak_extra = _peak_extra_bytes(run)  # the first timed run measures memory too
    times = [time.perf_counter() - start] + [_timed(run)[0] for _ in range(repeats - 1)]
    return {
        "case": case,
        "rows": rows,
        "wall_s": statistics.median(times),
        "wall_s_all": times,
        "peak_extra_mb": peak_extra / 1e6,
        "tables_mb": tables_bytes / 1e6,
        "memory_ratio": peak_extra / tables_bytes,
        "drifted_columns": drifted,
        **extra,
    }


def _case_runner(
    case: str, reference: pd.DataFrame, current: pd.DataFrame, extra: dict[str, Any]
) -> Any:
    """A no-argument function running the case once and returning the drifted column count."""
    if case == "evidently":
        from evidently import Report
        from evidently.presets import DataDriftPreset

        def run() -> int:
            snapshot = Report([DataDriftPreset()]).run(
                current_data=current, reference_data=reference
            )
            return int(snapshot.dict()["metrics"][0]["value"]["count"])

    else:
        sys.path.insert(0, str(ROOT))
        from data.drift.detect import detect_drift
        from data.drift.profile import ReferenceProfile

        source: Any = reference
        if case == "driftune_profile":
            start = time.perf_counter()
            source = profile = ReferenceProfile.from_frame(reference)
            extra["profile_build_s"] = time.perf_counter() - start
            text = profile.to_json()
            extra["profile_json_mb"] = len(text) / 1e6
            extra["profile_load_s"] = _timed(lambda: ReferenceProfile.from_json(text))[0]
            del text
        max_rows = {"driftune_all_rows": None}.get(case, 50_000)

        def run() -> int:
            report = detect_drift(source, current, max_rows=max_rows)
            return len(report.drifted_features)

    return run


def _timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def run_case(case: str, rows: int, repeats: int, timeout: float) -> dict[str, Any]:
    python = str(EVIDENTLY_PYTHON) if case == "evidently" else sys.executable
    if case == "evidently" and not EVIDENTLY_PYTHON.exists():
        return {"case": case, "rows": rows, "error": "bench/.venv-evidently is not set up"}
    command = [python, __file__, "--worker", case, "--rows", str(rows), "--repeats", str(repeats)]
    env = {**os.environ, "DO_NOT_TRACK": "1", "PYTHONWARNINGS": "ignore"}
    start = time.perf_counter()
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env
        )
    except subprocess.TimeoutExpired:
        return {"case": case, "rows": rows, "timed_out": True, "wall_s": None, "timeout_s": timeout}
    if done.returncode != 0:
        return {"case": case, "rows": rows, "error": done.stderr[-2000:]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["subprocess_s"] = time.perf_counter() - start
    return result


def compare(cases: list[dict[str, Any]], sizes: list[int]) -> list[dict[str, Any]]:
    """Per size: each driftune case's speed-up over Evidently and its memory ratio."""
    rows = []
    for size in sizes:
        by_case = {c["case"]: c for c in cases if c["rows"] == size}
        evidently = by_case.get("evidently", {}).get("wall_s")
        for case in CASES[:3]:
            mine = by_case.get(case, {})
            if mine.get("wall_s") is None:
                continue
            rows.append(
                {
                    "rows": size,
                    "case": case,
                    "wall_s": mine["wall_s"],
                    "evidently_s": evidently,
                    "speedup": evidently / mine["wall_s"] if evidently else None,
                    "memory_ratio": mine["memory_ratio"],
                }
            )
    return rows


def print_table(results: dict[str, Any]) -> None:
    print(f"{'rows':>9}  {'case':<18} {'wall s':>9} {'peak extra MB':>14} {'x tables':>9}")
    for c in results["cases"]:
        wall = (
            "timeout" if c.get("timed_out") else ("error" if "error" in c else f"{c['wall_s']:.3f}")
        )
        memory = f"{c['peak_extra_mb']:.0f}" if "peak_extra_mb" in c else "-"
        ratio = f"{c['memory_ratio']:.2f}" if "memory_ratio" in c else "-"
        print(f"{c['rows']:>9,}  {c['case']:<18} {wall:>9} {memory:>14} {ratio:>9}")
    for row in results["comparison"]:
        if row["speedup"] is not None:
            print(
                f"{row['rows']:>9,}  {row['case']:<18} {row['speedup']:.1f}x faster than Evidently"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--evidently-timeout", type=float, default=900.0)
    parser.add_argument("--worker", choices=CASES)
    parser.add_argument("--rows", type=int)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.rows, args.repeats)))
        return
    load_before = os.getloadavg()
    cases = []
    for size in args.sizes:
        for case in CASES:
            # Evidently takes minutes from 100k rows on: once there, three times below.
            repeats = 1 if case == "evidently" and size >= 100_000 else args.repeats
            timeout = args.evidently_timeout if case == "evidently" else 1800.0
            cases.append(run_case(case, size, repeats, timeout))
            print(json.dumps(cases[-1]), flush=True)
    results = {
        "benchmark": "drift_speed",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
        },
        "features": FEATURES,
        "drifted_features": SHIFTED + WIDENED,
        "cases": cases,
        "comparison": compare(cases, args.sizes),
        "targets": targets(cases),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)


def targets(cases: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's targets: >= 20x Evidently at 1M rows; peak extra memory <= 2x the tables."""
    at_million = {c["case"]: c for c in cases if c["rows"] == 1_000_000}
    evidently = at_million.get("evidently", {})
    speedups = {}
    for case in CASES[:3]:
        mine = at_million.get(case, {}).get("wall_s")
        if mine and evidently.get("wall_s"):
            speedups[case] = evidently["wall_s"] / mine
        elif mine and evidently.get("timed_out"):
            speedups[case] = evidently["timeout_s"] / mine  # a lower bound
    ratios = [c["memory_ratio"] for c in cases if c["case"] != "evidently" and "memory_ratio" in c]
    default_speedup = speedups.get("driftune")
    return {
        "speedup_at_1m": speedups,
        "speedup_is_lower_bound": bool(evidently.get("timed_out")),
        "speedup_target": TARGET_SPEEDUP,
        "speedup_met": default_speedup is not None and default_speedup >= TARGET_SPEEDUP,
        "worst_memory_ratio": max(ratios) if ratios else None,
        "memory_target": TARGET_MEMORY_RATIO,
        "memory_met": bool(ratios) and max(ratios) <= TARGET_MEMORY_RATIO,
    }


if __name__ == "__main__":
    main()
