# Two commands for a new user: `make run` (the main job) and `make test` (the whole suite).
# Each creates the virtual environment if it is missing and installs the pinned dependencies.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
RUNS   ?= runs
TORCH  ?= default
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu
TORCH_PINS := $(shell grep -E '^(torch|torchvision)==' requirements.lock | cut -d' ' -f1)


.PHONY: run test test-browser lab lint format lock clean help

help:
	@echo "make run          - the main job: execute every notebook (smoke profile) into runs/notebooks/"
	@echo "                    and render them as a static site, runs/site/index.html"
	@echo "make test         - the whole test suite (lint and the browser tests included)"
	@echo "make test-browser - only the browser tests (installs Debian's Chromium first if it can)"
	@echo "make lab          - JupyterLab on notebooks/ with the project's kernel (LAB_ARGS=... for more)"
	@echo "make lint         - ruff check + format check"
	@echo "make lock         - re-pin requirements.lock for every platform (uv, universal resolution)"

# TORCH=cpu (Linux): PyTorch's CPU build from PyTorch's own index instead of PyPI's CUDA build (with
# --no-deps: the rest comes from the lock, less its CUDA packages, which then nothing needs).
$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
ifeq ($(TORCH),cpu)
	$(PY) -m pip install --quiet --no-deps --index-url $(TORCH_CPU_INDEX) $(addsuffix +cpu,$(TORCH_PINS))
	grep -vE '^(nvidia-|cuda-|triton)' requirements.lock > $(VENV)/requirements-cpu.lock
	$(PY) -m pip install --quiet -r $(VENV)/requirements-cpu.lock
else
	$(PY) -m pip install --quiet -r requirements.lock
endif
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

run: $(STAMP)
	SPTSEG_RUNS=$(RUNS) $(PY) -m sptseg_lib.tools.run_notebooks

# The browser tests (tests/test_browser.py) need Debian's Chromium: installed first when this can
# (root or password-less sudo, apt-get); without it they are skipped and the last line says so, loudly.
# python -m sptseg_lib.tools.run_tests: pytest on tests/ and notebooks/ (nbval), then that last line; the
# README's commands without make run the same module.
test: $(STAMP)
	@bash .ci/install-browser.sh --if-possible
	$(PY) -m sptseg_lib.tools.run_tests

test-browser: $(STAMP)
	bash .ci/install-browser.sh
	$(PY) -m pytest tests/test_browser.py

# JupyterLab from the venv on notebooks/, kernel = the venv's Python, no news pop-up, as root or a user.
lab: $(STAMP)
	$(PY) -m sptseg_lib.tools.lab $(LAB_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check sptseg_lib tests benchmarks
	$(PY) -m ruff format --check sptseg_lib tests benchmarks

format: $(STAMP)
	$(PY) -m ruff check --fix sptseg_lib tests benchmarks
	$(PY) -m ruff format sptseg_lib tests benchmarks

# One universal lock (every platform and Python >= 3.11, markers kept), resolved by uv; the pins already in
# requirements.lock are kept where they still fit (LOCK_ARGS=--upgrade to move them all, or
# LOCK_ARGS="--upgrade-package NAME"). tests/test_lock.py resolves it for each platform / Python pair.
lock: $(STAMP)
	sed '/^[^#]/,$$d' requirements.lock > $(VENV)/lock-header
	$(PY) -m uv pip compile --universal --python-version 3.11 pyproject.toml --all-extras \
		--no-header --no-annotate --quiet $(LOCK_ARGS) -o requirements.lock
	cat $(VENV)/lock-header requirements.lock > $(VENV)/lock-new && mv $(VENV)/lock-new requirements.lock

clean:
	rm -rf $(VENV) $(RUNS) .pytest_cache .ruff_cache
