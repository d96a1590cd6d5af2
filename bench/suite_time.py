"""Benchmark: `make test` from a clean clone, as `.ci/run` runs it, quiet and with both cores busy.

For each mode, a fresh ``git clone`` of this repository at ``--rev`` runs what ``.ci/run`` runs
(its system packages already installed): ``make test``'s targets one after the other, each
timed: ``setup`` (a new .venv; pip's download cache is kept, as on a CI runner with a cache),
``lint``, ``typecheck`` and ``pytest``, the team servers and the browser tests included, with
``CI=true``. The suite's own closing line "seconds per test folder" gives the folders.

``busy`` runs the same with two ``python -c 'while True: pass'`` spinners, one per core of the
2-core machine. The machine is shared: the script samples the load average and measures how
much CPU the rest of the machine took besides this run (``others_cores``: /proc/stat's busy time
minus this run's own processes and its spinners, per second of wall time), and ``condition``
says in words whether a run was quiet: a figure is only as quiet as the machine was.

Targets (issue 21): the whole run <= 15 min quiet and <= 25 min busy; tests/fault_tests
<= 8 min quiet.

    .venv/bin/python bench/suite_time.py [--label after] [--rev HEAD] [--modes quiet busy]

Merges its figures into bench/results/suite_time.json under ``<label>.<mode>`` (about 15-40
minutes a mode); each mode's whole output goes to a log in the temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "suite_time.json"
# Below this much CPU taken by other work (cores, averaged over the run) a run counts as quiet.
QUIET_OTHERS_CORES = 0.3
TARGETS_S = {"quiet": 15 * 60, "busy": 25 * 60, "fault_tests_quiet": 8 * 60}
# `make test` is these targets in this order (see the Makefile); each is timed on its own.
TARGETS = ("setup", "lint", "typecheck", "pytest")
CI_ENV = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "CI": "true",  # the server and browser tests fail, not skip, when a part is missing
    "PYTEST_ADDOPTS": "--durations=25",
}
FOLDERS = re.compile(r"seconds per test folder: (.*)$")
FOLDER = re.compile(r"(\S+) (\d+) s")
SUMMARY = re.compile(r"^=+ (.*\d+ (passed|failed).*) in [\d.]+s")
DURATION = re.compile(r"^(\d+\.\d+)s (call|setup|teardown)\s+(\S+)")


class Spinners:
    """``count`` processes spinning on a core each; ``cpu_s`` says how much CPU they got."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.processes: list[subprocess.Popen[bytes]] = []

    def cpu_s(self) -> float:
        return sum(_process_cpu_s(p.pid) for p in self.processes)

    def __enter__(self) -> Spinners:
        spin = [sys.executable, "-c", "while True: pass"]
        self.processes = [subprocess.Popen(spin) for _ in range(self.count)]
        return self

    def __exit__(self, *exc: object) -> None:
        for spinner in self.processes:
            spinner.kill()
            spinner.wait()


def _process_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class LoadSampler(threading.Thread):
    """The 1-minute load average every 10 s, and the machine's busy CPU seconds overall."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.samples: list[float] = []
        self.stopped = threading.Event()
        self.busy_start = _machine_busy_s()

    def run(self) -> None:
        while not self.stopped.wait(10):
            self.samples.append(os.getloadavg()[0])

    def stop(self) -> float:
        """Stops sampling; returns the busy CPU seconds of the whole machine since the start."""
        self.stopped.set()
        self.join()
        return _machine_busy_s() - self.busy_start


def _machine_busy_s() -> float:
    """CPU seconds spent outside idle and iowait by every process, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_ci(rev: str, busy: bool, log: Path) -> dict[str, Any]:
    """Clone at ``rev``, run make test's targets there, and read the folders from the output."""
    with tempfile.TemporaryDirectory(prefix="suite-time-") as scratch:
        clone = Path(scratch) / "driftune"
        started = time.monotonic()
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
        subprocess.run(["git", "-C", str(clone), "checkout", "--quiet", rev], check=True)
        commit = subprocess.run(
            ["git", "-C", str(clone), "rev-parse", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        load_before = os.getloadavg()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTEST"))}
        env.update(CI_ENV)
        phases: dict[str, float] = {}
        output: list[str] = []
        returncode = 0
        with Spinners(2 if busy else 0) as spinners, log.open("w") as out:
            sampler = LoadSampler()
            sampler.start()
            cpu_before = _children_cpu_s()
            for target in TARGETS:
                at = time.monotonic()
                done = subprocess.run(
                    ["make", target],
                    cwd=clone,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
                phases[target] = round(time.monotonic() - at, 1)
                out.write(done.stdout)
                output.extend(done.stdout.splitlines())
                if done.returncode != 0:
                    returncode = done.returncode
                    break
            own_cpu = _children_cpu_s() - cpu_before
            spun = spinners.cpu_s()
            machine_cpu = sampler.stop()
            total = time.monotonic() - started
            # Stop the clone's project server, should a test have left one (make clean does).
            subprocess.run(["make", "stop"], cwd=clone, env=env, capture_output=True)
    return {
        "commit": commit,
        "returncode": returncode,
        "total_s": round(total, 1),
        "phases_s": phases,
        "folders_s": _folders(output),
        "summary": next((m.group(1) for text in output if (m := SUMMARY.match(text))), None),
        "slowest": [
            {"s": float(m.group(1)), "when": m.group(2), "test": m.group(3)}
            for text in output
            if (m := DURATION.match(text))
        ][:25],
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_1min_mean": round(sum(sampler.samples) / max(len(sampler.samples), 1), 2),
        "load_average_1min_max": round(max(sampler.samples, default=0.0), 2),
        "own_cpu_s": round(own_cpu, 1),
        "spinners_cores": round(spun / total, 2),
        # What the rest of the machine used meanwhile: other people's work.
        "others_cores": round(max(machine_cpu - own_cpu - spun, 0.0) / total, 2),
        "log": str(log),
    }


def _folders(lines: list[str]) -> dict[str, int]:
    for text in reversed(lines):
        if found := FOLDERS.search(text):
            return {m.group(1): int(m.group(2)) for m in FOLDER.finditer(found.group(1))}
    return {}


def condition(figures: dict[str, Any]) -> str:
    """How loaded the machine was besides this run (and its spinners)."""
    others = figures["others_cores"]
    if others < QUIET_OTHERS_CORES:
        return f"nothing else running (others {others:.2f} cores)"
    return f"not quiet: other work took {others:.2f} of the 2 cores on average"


def verdicts(figures: dict[str, Any]) -> dict[str, str]:
    said: dict[str, str] = {}
    for mode in ("quiet", "busy"):
        if mode in figures:
            took, target = figures[mode]["total_s"], TARGETS_S[mode]
            met = "met" if took <= target and figures[mode]["returncode"] == 0 else "missed"
            said[mode] = (
                f"{took / 60:.1f} min against <= {target / 60:.0f} min: {met} "
                f"({figures[mode]['condition']})"
            )
    if "quiet" in figures:
        fault = figures["quiet"]["folders_s"].get("tests/fault_tests")
        if fault is not None:
            met = "met" if fault <= TARGETS_S["fault_tests_quiet"] else "missed"
            said["fault_tests_quiet"] = f"{fault / 60:.1f} min against <= 8 min: {met}"
    return said


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--label", help="before, after, ... (default: the commit, short)")
    parser.add_argument("--rev", default="HEAD")
    parser.add_argument("--modes", nargs="+", choices=("quiet", "busy"), default=["quiet", "busy"])
    args = parser.parse_args()
    rev = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", args.rev], capture_output=True, text=True, check=True
    ).stdout.strip()
    label = args.label or rev[:7]
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    entry = results.setdefault(label, {})
    for mode in args.modes:
        log = Path(tempfile.gettempdir()) / f"suite_time-{label}-{mode}.log"
        figures = run_ci(rev, mode == "busy", log)
        figures["created"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        figures["condition"] = condition(figures)
        entry[mode] = figures
        print(json.dumps({mode: figures}, indent=2)[:3000])
        entry["verdicts"] = verdicts(entry)
        results["benchmark"] = "suite_time"
        results["machine"] = {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        }
        results["targets_s"] = TARGETS_S
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
