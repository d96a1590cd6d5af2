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
# No PREFECT_API_URL: the flow commands start one Prefect server for this folder (database and
# log in .driftune/prefect), reuse it, and `make ui` shows the demo's runs on it.

.PHONY: setup demo test lint lint-fix typecheck pytest ui serve bench clean stop

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
	$(BIN)/driftune server start
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
	$(BIN)/python bench/cli_latency.py
	$(BIN)/python bench/backtest.py
	$(BIN)/python bench/retune_profile.py
	$(BIN)/python bench/search_speed.py
	$(BIN)/python bench/structure.py
	$(BIN)/python bench/suite_time.py  # make test from a clean clone, twice: an hour or more

lint-fix: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

stop: setup
	$(BIN)/driftune server stop

clean:
	if test -x $(BIN)/driftune; then $(BIN)/driftune server stop; fi
	rm -rf .driftune .pytest_cache .mypy_cache .ruff_cache
