"""The real CLI in a fresh interpreter, reporting its exit code and which heavy packages it loaded.

What a command imports is what a user waits for before its first line: these tests hold the
commands that need no flow to their light imports.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

# `ui` would replace the process with the MLflow server: execv is stubbed.
PROBE = """
import json, os, sys
os.execv = lambda *args: None
from flows.cli.app import app
try:
    app(sys.argv[1:])
except SystemExit as done:
    code = done.code or 0
heavy = ("prefect", "mlflow", "torch", "sklearn", "scipy", "pandas", "matplotlib")
print("PROBE" + json.dumps({"exit": code, "loaded": [m for m in heavy if m in sys.modules]}))
"""


def probe(*args: str, cwd: Path) -> tuple[int, set[str], str]:
    """`driftune ARGS` in a new interpreter: exit code, heavy packages loaded, whole output."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    # A Prefect API nothing answers on: any command that touched Prefect would fail.
    env = {**os.environ, "PREFECT_API_URL": f"http://127.0.0.1:{port}/api"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    line = next(line for line in done.stdout.splitlines() if line.startswith("PROBE"))
    report = json.loads(line.removeprefix("PROBE"))
    return report["exit"], set(report["loaded"]), done.stdout + done.stderr
