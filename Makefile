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
# Prefect's local server keeps its database in the project, so `make ui` shows the demo's runs.
export PREFECT_HOME ?= $(CURDIR)/.driftune/prefect

.PHONY: setup demo test lint lint-fix typecheck pytest ui serve bench clean

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
	@echo "Prefect UI: PREFECT_HOME=$(PREFECT_HOME) $(BIN)/prefect server start  (http://127.0.0.1:4200)"
	$(BIN)/driftune ui -c .driftune/demo/driftune.yaml

serve: setup
	$(BIN)/driftune serve -c deploy/configs/seattle-weather.yaml

bench: setup
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python bench/train_throughput.py
	$(BIN)/python bench/search_efficiency.py
	$(BIN)/python bench/search_variants.py
	$(BIN)/python bench/tracking_overhead.py
	$(BIN)/python bench/drift_speed.py

lint-fix: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf .driftune .pytest_cache .mypy_cache .ruff_cache
