"""driftune's orchestration and I/O: Prefect flows, MLflow tracking, the model registry, the CLI.

The only package that imports prefect or mlflow. Importing it, or any module in it, has no side
effects: no tracking URI is set, no folder created, no logging configured.
"""
