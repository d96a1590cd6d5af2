"""The MLflow adapter: one module per thing the MLflow UI shows (searches, trials, drift checks,
the registry and its audit trail) and the champion's files."""
