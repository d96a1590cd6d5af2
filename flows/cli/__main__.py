"""`python -m flows.cli`: the same app as the `driftune` script."""

from flows.cli.app import app

app()
