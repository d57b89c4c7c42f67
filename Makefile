# Gyre developer entry points. `make install` builds .venv; every other target uses it.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
UV     := $(BIN)/uv
STAMP  := $(VENV)/.installed

.PHONY: install protos protos-check lint typecheck test test-unit test-integration test-e2e demo up down status clean

install: $(STAMP)

# The venv is rebuilt when any dependency list changes.
$(STAMP): requirements/dev.txt libs/*/pyproject.toml $(wildcard services/*/pyproject.toml)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv>=0.4,<1"
	$(UV) pip install --python $(BIN)/python -r requirements/dev.txt $(foreach s,$(wildcard services/*/pyproject.toml),-e $(dir $(s)))
	touch $(STAMP)

# Regenerate the checked-in Python code from protos/ (grpcio-tools).
protos: $(STAMP)
	$(BIN)/python scripts/gen_protos.py

PY_DIRS := $(wildcard libs services tests scripts benchmarks)

lint: $(STAMP)
	cd protos && ../$(BIN)/buf lint
	$(BIN)/ruff check $(PY_DIRS)
	$(BIN)/ruff format --check $(PY_DIRS)

typecheck: $(STAMP)
	$(BIN)/mypy

# The README's test command: unit, integration and end-to-end tests against real components.
test: $(STAMP)
	$(BIN)/python -m pytest

test-unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

test-integration: $(STAMP)
	$(BIN)/python -m pytest tests/integration

test-e2e: $(STAMP)
	$(BIN)/python -m pytest tests/e2e

# The README's first command: the whole continuous-training loop on real data, on the
# local stack (started if it is not running; it keeps running afterwards: `make down`).
# DEMO_ARGS passes options to `gyre demo`, e.g. DEMO_ARGS="--csv f.csv --target y --json".
DEMO_ARGS ?=
demo: $(STAMP)
	$(BIN)/gyre up
	$(BIN)/gyre demo $(DEMO_ARGS)

up: $(STAMP)
	$(BIN)/gyre up

status: $(STAMP)
	$(BIN)/gyre status

down: $(STAMP)
	$(BIN)/gyre down

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
