# Two commands for a fresh clone: `make run` (set up .venv, then the pipeline) and `make test`.
# `make run` gives what `dvc repro` gives, with the train stages JOBS at a time (imdb_sentiment/repro.py).
VENV ?= .venv
PYTHON ?= python3
JOBS ?= 2
BIN := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)

.PHONY: setup run test test-slow

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@command -v dot >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null); } \
		|| echo "note: Graphviz (dot) is not installed; the final model's architecture diagram will be skipped"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

run: setup
	python -m imdb_sentiment.repro --jobs $(JOBS)

test: setup
	pytest

test-slow: setup
	pytest -m slow
