# edgewise — developer entry points. Needs only make and Python >= 3.11: everything else is installed
# into .venv (created on first use), and every tool runs from .venv/bin, without activating it.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
BIN := $(VENV)/bin
# Re-install only when pyproject.toml changes (editable install: code changes need no re-install).
STAMP := $(VENV)/.edgewise-installed
# The first Python >= 3.11 on PATH (override: make dev PYTHON=/path/to/python3.12).
PYTHON ?= $(shell for p in python3.11 python3.12 python3.13 python3.14 python3; do \
	if command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; \
	then echo $$p; break; fi; done)
# Extra pytest arguments, e.g. make test PYTEST_ARGS='-k limits -x'
PYTEST_ARGS ?=

.PHONY: help install dev test lint test-e2e test-cluster bench clean

help:
	@echo "make dev       run Temporal's dev server, the LinkedIn sandbox, the worker and the API (state in .data/)"
	@echo "make test      ruff, mypy, then the test suite (everything but the bench marker)"
	@echo "make lint      ruff and mypy only"
	@echo "make test-e2e  only the end-to-end tests (real processes over HTTP)"
	@echo "make test-cluster  the production topology on loopback (PostgreSQL, 2 APIs, 2 workers) under failure"
	@echo "make bench     benchmarks: pytest -m bench, live latency and async throughput (bench/run_bench.py), the Smart Limits simulation"
	@echo "make clean     delete .data/ (all local state: database, Temporal history, sandbox, dev key)"

$(BIN)/python:
	@if [ -z "$(PYTHON)" ]; then echo "error: Python 3.11 or newer is needed on PATH (python3.11, python3.12, … or python3)"; exit 1; fi
	@echo "==> creating $(VENV) with $$($(PYTHON) --version)"
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	@echo "==> installing edgewise and its dev tools into $(VENV) (the first time takes a minute)"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

install: $(STAMP)

dev: install
	$(BIN)/edgewise dev

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy .

# Runs all three steps even when one fails, so one run shows every problem; fails if any failed.
# pytest's exit code 5 means "no tests collected": reported, not a failure.
test: install
	@failed=""; \
	echo "==> ruff check ."; $(BIN)/ruff check . || failed="$$failed ruff"; \
	echo "==> mypy ."; $(BIN)/mypy . || failed="$$failed mypy"; \
	echo "==> pytest"; $(BIN)/pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; rc=0; fi; \
	if [ $$rc -ne 0 ]; then failed="$$failed pytest"; fi; \
	if [ -n "$$failed" ]; then echo "make test: failed:$$failed"; exit 1; fi

test-e2e: install
	$(BIN)/pytest -m e2e $(PYTEST_ARGS)

# tests/cluster: PostgreSQL (TEST_DATABASE_URL, or postgresql+psycopg://postgres@127.0.0.1:5432/test), one
# Temporal dev server, the sandbox, 2 API and 2 worker processes on loopback; a worker is SIGKILLed and
# Temporal restarted in the middle of 2,000 writes (a few minutes). CI runs it after `make test`.
test-cluster: install
	$(BIN)/pytest -m cluster -s tests/cluster $(PYTEST_ARGS)

# Whatever is marked `bench` in bench/ and tests/ (pytest), then bench/run_bench.py: live-call latency and
# async throughput through the real stack, started in a temporary data dir on free ports (a few minutes;
# report printed, JSON in .data/bench/latest.json). BENCH_ARGS passes options to the script, e.g.
# make bench BENCH_ARGS='--database-url postgresql+psycopg://postgres@127.0.0.1:5432/edgewise_bench'
# Last, the Smart Limits simulation (README, Smart Limits): 20 identities × 30 days on a private sandbox,
# JSON in .data/bench/simulation.json; SIM_ARGS passes options, e.g. SIM_ARGS='--identities 5 --days 10'.
BENCH_ARGS ?=
SIM_ARGS ?=
bench: install
	@$(BIN)/pytest -m bench -s -q $(wildcard bench) tests $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then rc=0; fi; if [ $$rc -ne 0 ]; then exit $$rc; fi
	$(BIN)/python bench/run_bench.py $(BENCH_ARGS)
	$(BIN)/python -m edgewise.simulation --json .data/bench/simulation.json $(SIM_ARGS)

clean:
	rm -rf .data
