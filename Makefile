# driftune: `make demo` runs the whole loop on the shipped data; `make test` runs lint, types, tests.
# Both create .venv and install the project into it when missing (or when pyproject.toml changed).

VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# No telemetry and no network calls from Prefect or MLflow, wherever they run.
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1
export MLFLOW_DISABLE_TELEMETRY := true

.PHONY: setup demo test lint typecheck pytest ui serve bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: setup
	$(BIN)/driftune demo

test: setup lint typecheck pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

pytest: setup
	$(BIN)/python -m pytest

ui: setup
	$(BIN)/driftune ui

serve: setup
	$(BIN)/driftune serve

bench: setup
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python bench/train_throughput.py
	$(BIN)/python bench/search_efficiency.py
	$(BIN)/python bench/tracking_overhead.py
	$(BIN)/python bench/drift_speed.py

clean:
	rm -rf .driftune .pytest_cache .mypy_cache .ruff_cache
