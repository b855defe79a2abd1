# Two commands for a fresh clone: `make run` (set up .venv, then `dvc repro`) and `make test`.
VENV ?= .venv
PYTHON ?= python3
BIN := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)

.PHONY: setup run test test-slow

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

run: setup
	dvc repro

test: setup
	pytest

test-slow: setup
	pytest -m slow
