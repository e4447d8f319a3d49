# Two commands for a new user: `make run` (the main job) and `make test` (the whole suite).
# Each creates the virtual environment if it is missing and installs the pinned dependencies.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
RUNS   ?= runs

.PHONY: run test lint format lock clean help

help:
	@echo "make run    - the main job: execute every notebook (smoke profile) into runs/"
	@echo "make test   - the whole test suite (lint included)"
	@echo "make lint   - ruff check + format check"
	@echo "make lock   - re-pin requirements.lock from the current environment"

$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

run: $(STAMP)
	SPTSEG_RUNS=$(RUNS) $(PY) -m sptseg_lib.tools.run_notebooks

test: $(STAMP)
	$(PY) -m pytest tests notebooks --nbval-lax --nbval-sanitize-with notebooks/nbval_sanitize.cfg \
		--nbval-cell-timeout 300 --durations=15

lint: $(STAMP)
	$(PY) -m ruff check sptseg_lib tests benchmarks
	$(PY) -m ruff format --check sptseg_lib tests benchmarks

format: $(STAMP)
	$(PY) -m ruff check --fix sptseg_lib tests benchmarks
	$(PY) -m ruff format sptseg_lib tests benchmarks

lock: $(STAMP)
	$(PY) -m pip freeze --exclude-editable | grep -v '^sptseg' > requirements.lock.new && mv requirements.lock.new requirements.lock

clean:
	rm -rf $(VENV) $(RUNS) .pytest_cache .ruff_cache
