# Two commands for a fresh clone: `make run` (set up .venv, then the pipeline) and `make test`.
# `make run` gives what `dvc repro` gives, with the train stages JOBS at a time (imdb_sentiment/runtime/repro.py).
# `make help` lists every target.
VENV ?= .venv
PYTHON ?= python3
JOBS ?=  # empty: imdb_sentiment.runtime.repro's default, the cores + 1
BIN := $(abspath $(VENV))/bin
# uv when it is on PATH: the same packages, installed in under a minute instead of pip's 3-7 (docs/performance.md);
# `make setup UV=` installs with pip. Byte-compiled at install as pip does: with PYTHONDONTWRITEBYTECODE set,
# every process would compile every module it imports again.
UV ?= $(shell command -v uv 2>/dev/null)
INSTALL = $(if $(UV),$(UV) pip install --quiet --compile-bytecode --python $(BIN)/python,$(BIN)/pip install --quiet)
export PATH := $(BIN):$(PATH)

.DEFAULT_GOAL := help
.PHONY: help setup run test test-slow lint format

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: $(VENV)/.installed ## create .venv and install the project with its dev tools

$(VENV)/.installed: pyproject.toml
	@command -v dot >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null); } \
		|| echo "note: Graphviz (dot) is not installed; the final model's architecture diagram will be skipped"
	$(PYTHON) -m venv $(VENV)
	$(INSTALL) -e '.[dev]'
	touch $@

run: setup ## the whole pipeline, as dvc repro, with the train stages JOBS at a time
	python -m imdb_sentiment.runtime.repro $(if $(strip $(JOBS)),--jobs $(JOBS))

test: setup ## the fast tests (what CI runs first)
	pytest

test-slow: setup ## the slow tests: real data, whole pipeline on a fixture, servers, sweeps, DVC queue
	pytest -m slow

lint: setup ## ruff's lint and format check, and import-linter's layers (configured in pyproject.toml; CI runs it)
	ruff check .
	ruff format --check .
	lint-imports

format: setup ## ruff: fix what lint can fix, then format
	ruff check --fix .
	ruff format .
