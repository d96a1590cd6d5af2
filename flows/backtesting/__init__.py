"""`driftune backtest` beside its flow (flows/backtest.py): the scratch store, scoring, report."""
