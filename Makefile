# The README's two commands are `make demo` and `make test`; CI (.ci/run) runs `make test` in a fresh clone.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export GX_ANALYTICS_ENABLED ?= false
export DO_NOT_TRACK ?= true
export MLFLOW_DISABLE_TELEMETRY ?= true

.PHONY: install demo demo-replay serve stack bench test check lint format clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

## demo: install, check the specs, train the flight-delays model, retrain it (compared with the champion on the
## same holdout), and show the registry
demo: install
	$(BIN)/mlops validate deployments
	$(BIN)/mlops run retrain deployments/flight_delays.yaml
	$(BIN)/mlops run retrain deployments/flight_delays.yaml
	$(BIN)/mlops status deployments/flight_delays.yaml

## demo-replay: half a year of production on the flight data: monitor each month, retrain on drift
demo-replay: install
	$(BIN)/mlops replay deployments/flight_delays.yaml --start 2013-07-01 --end 2014-01-01 --every month
	$(BIN)/mlops history deployments/flight_delays.yaml

## test: install, lint, and run every test on three workers (the 2 cores wait on servers and processes much of the
## time), one test file per worker, the longest files first
## (tests/schedule.py; pytest's exit 5, "no tests ran", is a failure)
test: install lint
	$(BIN)/pytest -q -p no:cacheprovider -n 3 --dist loadfile --durations=25; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

## check: the quick tier while working: install, lint, and the unit tests (pure decisions, specs, messages, the CLI
## in-process) on two workers; `make test` stays the full suite (unit, integration with the real libraries, and
## tests/e2e), and CI runs that
check: install lint
	$(BIN)/pytest -q -p no:cacheprovider -n 2 --dist loadfile tests/unit; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

## serve: a local Prefect server + UI (127.0.0.1:4200), the work pool, every deployment, a worker; Ctrl-C stops it
serve: install
	$(BIN)/mlops serve

## stack: the shared setup of a team on this machine (docs/scale-out.md): PostgreSQL, a Prefect server and an MLflow
## server on it with authentication, one worker in this folder; prints the URLs and credentials; Ctrl-C stops all
stack: install
	bash .ci/install-postgres.sh
	$(BIN)/python -m tests.stack

## bench: benchmarks (ratios against the bare libraries, same run); writes docs/benchmarks.md
bench: install
	$(BIN)/python bench/run.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .mlops .pytest_cache .ruff_cache .mypy_cache
