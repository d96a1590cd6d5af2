-- The MLflow tracking server keeps its own database beside Prefect's.
CREATE DATABASE mlflow;
