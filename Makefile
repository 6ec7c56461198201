# rollbackctl: the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup demo test checks images lint unit integration drills ee bench bench-db bench-stop bench-config bench-full clean sandbox-down

setup:
	@scripts/setup.sh

## demo: bring the sandbox up (bad release current), roll it back, show what nginx serves
demo: setup
	@scripts/demo.sh

## test: everything CI runs. The drills (two at a time) run beside lint and unit, then the
## integration tests run alone: run beside the drills, both took half as long again (60 min in
## all against about 48 one after the other).
test: setup
	$(MAKE) --no-print-directory --output-sync=line -j2 checks drills
	$(MAKE) --no-print-directory integration

## checks: lint, then the unit tests
checks: setup
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory unit

## images: the Docker engine and the local images (built only when missing) that the drills and
## the sandbox's container runtime need
images: setup
	scripts/build-images.sh

lint: setup
	$(BIN)/ruff check rollbackctl plugins tests benchmarks sample_app
	$(BIN)/ruff format --check rollbackctl plugins tests benchmarks sample_app
	$(BIN)/ansible-lint --offline -q
	scripts/sanity.sh

unit: setup
	$(BIN)/pytest -q tests/unit

## integration: each module on stacks as new (a worker sets each kind up once and puts it back
## from a copy of its files for every module; a guarded stack runs from a private copy of the
## checkout, for a trust root of its own); modules run side by side on TEST_WORKERS workers
TEST_WORKERS ?= 3
integration: setup images
	$(BIN)/pytest -q -m integration -n $(TEST_WORKERS) --dist loadfile --durations=20 tests/integration

## drills: the images' own checks, then every molecule drill
drills: setup images
	$(BIN)/pytest -q -m images tests/integration/test_drill_images.py
	$(BIN)/pytest -q -m drills --durations=10 tests/integration/test_drills.py

## ee: the AWX execution environment's build context (ee/context/): the collection tarball and
## ansible-builder's Containerfile; build and push the image with podman or docker from there
ee: setup
	$(BIN)/ansible-galaxy collection build --force --output-path ee .
	$(BIN)/ansible-builder create -f execution-environment.yml -c ee/context

bench: setup
	$(BIN)/python benchmarks/app_rollback.py

## bench-stop: emergency stop and resume vs the same steps by hand (~3 min)
bench-stop: setup
	$(BIN)/python benchmarks/emergency_stop.py

## bench-config: configuration rollback vs git checkout HEAD~1 and restarts by hand (~4 min)
bench-config: setup
	$(BIN)/python benchmarks/config_rollback.py

## bench-full: full rollback to a restore point vs the same recovery by hand (~5 min)
bench-full: setup
	$(BIN)/python benchmarks/full_rollback.py

## bench-db: database rollback vs the runbook's dump/restore on a generated database (~10 min)
DB_BENCH_MB ?= 1024
bench-db: setup
	$(BIN)/python benchmarks/db_rollback.py --size-mb $(DB_BENCH_MB)

sandbox-down: setup
	$(BIN)/rollbackctl sandbox down

clean: sandbox-down
	rm -rf .state
