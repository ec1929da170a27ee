# Two entry points for a fresh machine: `make demo` (the whole job end to end) and `make test`.
# Both create or reuse .venv; torch is installed first and alone (pinned CPU build).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo test test-fast bench-docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[spark,pipeline,dev]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" bash scripts/demo.sh

test: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" bash scripts/system_deps.sh
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

# What `make demo` writes (dvc.yaml outs, the local MLflow store); the frozen test ids and metrics/ are
# tracked in git and stay.
clean:
	rm -rf data/raw data/ingested data/dataset data/new_dump data/scored data/report data/review.db* mlflow.db \
		mlartifacts .dvc/tmp .pytest_cache test-artifacts
