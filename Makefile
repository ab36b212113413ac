# Two commands for a fresh machine:
#   make run   — create .venv, install everything, serve Ambient on the embedded model
#   make test  — create .venv, install everything the tests need, run them
#
# llama-cpp-python compiles from source; GGML_NATIVE=OFF makes a portable build (a native
# build can pick CPU kernels, such as AMX, that crash on some machines).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8501
PYTEST_ARGS ?=
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF

.PHONY: run test lint bench bench-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

$(VENV)/.installed-run: requirements.txt | $(BIN)/python
	$(BIN)/pip install -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install -r requirements-dev.txt
	touch $(VENV)/.installed-run $@

run: $(VENV)/.installed-run
	$(BIN)/streamlit run Home.py --server.port $(PORT)

# The import contract first (pyproject.toml: the layers), so an upward import fails at once.
test: $(VENV)/.installed-dev
	$(BIN)/lint-imports
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/lint-imports

bench: $(VENV)/.installed-dev
	$(BIN)/python -m bench all

# LiteLLM for the router benchmark's comparison (see requirements-bench.txt for why --no-deps).
bench-deps: $(VENV)/.installed-dev
	$(BIN)/pip install -r requirements-bench.txt
	$(BIN)/pip install --no-deps litellm==1.109.1

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

# A job-queue worker (PostgreSQL only: DATABASE_URL=postgresql+psycopg://...). Every app
# replica runs one of its own; this adds one more (README: "Deploy for a team").
.PHONY: worker team
worker: $(VENV)/.installed-run
	$(BIN)/python -m workflows.worker

# A team on this machine: a throwaway PostgreSQL, two replicas (ports 8501 and 8502) and a
# worker; Ctrl-C stops them all.
team: $(VENV)/.installed-run
	$(BIN)/python -m workflows.team
