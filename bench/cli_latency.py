"""Benchmark: how long the commands a person types take, each as a whole `driftune` process.

A project made by `driftune init --sample seattle-weather` (its search budget cut so the setup
tunes in a minute) on the embedded SQLite store, tuned twice so that two versions exist. Then,
each timed from process start to exit, median over ``--repeats`` runs:

- ``help``: ``driftune --help``;
- ``status``: ``driftune status``;
- ``predict``: ``driftune predict data/samples/seattle-weather.csv OUT`` (1,461 rows);
- ``bad_config``: ``driftune tune`` on the same config with ``search.rounds: -1`` (exit 1);
- ``bad_config_no_fixed``: the same without the ``search.fixed`` section, whose check imports
  the estimator and so torch (what the figure above pays for it);
- ``promote``: ``driftune promote V --reason bench``, alternating between the two versions.

The whole set runs on the machine as it is, then again with both cores busy (two spinning
processes this script starts and stops). Targets on a quiet machine (issue 15): --help <= 1 s,
bad config <= 2 s, status <= 3 s, predict <= 4 s; at most twice those with both cores busy.

Run from the repository root (a few minutes):

    .venv/bin/python bench/cli_latency.py [--repeats 5]

Writes bench/results/cli_latency.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "cli_latency.json"
DRIFTUNE = str(Path(sys.executable).parent / "driftune")
SAMPLE = ROOT / "data" / "samples" / "seattle-weather.csv"
TARGETS_S = {"help": 1.0, "bad_config": 2.0, "status": 3.0, "predict": 4.0}
BUSY_FACTOR = 2.0
ENV = {
    **os.environ,
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
}


def driftune(
    *args: str, cwd: Path, check: bool = True
) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """Wall seconds, CPU seconds (user + system of the process and its children), the result."""
    cpu_before = _children_cpu()
    started = time.perf_counter()
    done = subprocess.run(
        [DRIFTUNE, *args], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=1800
    )
    took = time.perf_counter() - started
    if check and done.returncode != 0:
        raise RuntimeError(f"driftune {' '.join(args)} failed: {done.stdout}{done.stderr}")
    return took, _children_cpu() - cpu_before, done


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def make_project(folder: Path) -> dict[str, Path]:
    """The init template's config with a one-minute search; a bad copy; two tuned versions."""
    config = folder / "driftune.yaml"
    driftune("init", str(config), "--sample", "seattle-weather", cwd=folder)
    raw = yaml.safe_load(config.read_text())
    raw["search"].update(rounds=1, trials_per_round=2, fixed={"max_epochs": 3, "patience": 2})
    raw["promotion"]["n_boot"] = 200
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    bad = folder / "bad.yaml"
    raw_bad = {**raw, "search": {**raw["search"], "rounds": -1}}
    bad.write_text(yaml.safe_dump(raw_bad, sort_keys=False))
    bad_no_fixed = folder / "bad-no-fixed.yaml"
    search = {k: v for k, v in raw_bad["search"].items() if k != "fixed"}
    bad_no_fixed.write_text(yaml.safe_dump({**raw_bad, "search": search}, sort_keys=False))
    for _ in range(2):
        driftune("tune", "-c", str(config), cwd=folder)
    return {"config": config, "bad": bad, "bad_no_fixed": bad_no_fixed}


def measure(folder: Path, paths: dict[str, Path], repeats: int) -> dict[str, Any]:
    config = str(paths["config"])
    out = str(folder / "scored.csv")
    commands: dict[str, list[str]] = {
        "help": ["--help"],
        "status": ["status", "-c", config],
        "predict": ["predict", str(SAMPLE), out, "-c", config, "--overwrite"],  # each repeat
        "bad_config": ["tune", "-c", str(paths["bad"])],
        "bad_config_no_fixed": ["tune", "-c", str(paths["bad_no_fixed"])],
        "promote": ["promote", "VERSION", "--reason", "bench", "-c", config],
    }
    results = {}
    for name, command in commands.items():
        times, cpu = [], []
        for _ in range(repeats):
            args = [_not_the_champion(folder, config) if a == "VERSION" else a for a in command]
            took, used, done = driftune(*args, cwd=folder, check=not name.startswith("bad"))
            if name.startswith("bad"):
                assert done.returncode == 1 and "search.rounds" in done.stdout, done.stdout
            times.append(took)
            cpu.append(used)
        results[name] = {
            "median_s": statistics.median(times),
            "median_cpu_s": statistics.median(cpu),
            "runs_s": times,
        }
        print(f"  {name:20s} {times_line(times, cpu)}", flush=True)
    return results


def times_line(times: list[float], cpu: list[float]) -> str:
    return f"{statistics.median(times):6.2f} s ({statistics.median(cpu):.2f} s CPU)"


def _not_the_champion(folder: Path, config: str) -> str:
    """Of versions 1 and 2, the one to promote now (read untimed, from `driftune status`)."""
    _, _, done = driftune("status", "-c", config, cwd=folder)
    found = re.search(r"champion: version (\d+)", done.stdout)
    return "1" if found and found.group(1) == "2" else "2"


@contextmanager
def both_cores_busy() -> Iterator[None]:
    spinners = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(os.cpu_count() or 2)
    ]
    try:
        time.sleep(1)
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def verdicts(quiet: dict[str, Any], busy: dict[str, Any]) -> dict[str, Any]:
    found = {}
    for name, target in TARGETS_S.items():
        q, b = quiet[name]["median_s"], busy[name]["median_s"]
        found[name] = {
            "target_s": target,
            "quiet_s": q,
            "busy_s": b,
            "meets_quiet": q <= target,
            "meets_busy": b <= BUSY_FACTOR * target,
        }
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="driftune-cli-bench-") as tmp:
        folder = Path(tmp)
        print("setting up a tuned project (two tiny tunes) ...", flush=True)
        paths = make_project(folder)
        try:
            print("as the machine is:", flush=True)
            quiet = measure(folder, paths, args.repeats)
            print("with both cores busy:", flush=True)
            with both_cores_busy():
                busy = measure(folder, paths, args.repeats)
        finally:
            driftune("server", "stop", "-c", str(paths["config"]), cwd=folder, check=False)
    report = {
        "benchmark": "cli_latency",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average_before": list(load_before),
            "load_average_after": list(os.getloadavg()),
        },
        "repeats": args.repeats,
        "quiet": quiet,
        "busy": busy,
        "targets": verdicts(quiet, busy),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
