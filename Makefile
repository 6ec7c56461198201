# rollbackctl: the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup demo test lint unit integration drills bench clean sandbox-down

setup:
	@scripts/setup.sh

## demo: bring the sandbox up (bad release current), roll it back, show what nginx serves
demo: setup
	@scripts/demo.sh

## test: everything CI runs: lint, unit, integration
test: setup lint unit integration

lint: setup
	$(BIN)/ruff check rollbackctl plugins tests benchmarks sample_app
	$(BIN)/ruff format --check rollbackctl plugins tests benchmarks sample_app
	$(BIN)/ansible-lint --offline -q

unit: setup
	$(BIN)/pytest -q tests/unit

integration: setup
	$(BIN)/pytest -q -m integration tests/integration

bench: setup
	$(BIN)/python benchmarks/app_rollback.py

sandbox-down: setup
	$(BIN)/rollbackctl sandbox down

clean: sandbox-down
	rm -rf .state
