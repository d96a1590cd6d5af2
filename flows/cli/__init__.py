"""The `driftune` command line (app.py) and what it shows: tables, progress, status, predict, demo.

Imports nothing, so `flows.cli.app.progress` stays light for the flows that report through it."""
