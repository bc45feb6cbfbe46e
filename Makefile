# Fieldline — every target sets itself up: a fresh clone needs only Python 3.11+ and make.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: setup run migrate demo test lint bench soak clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[server,dev]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

run: setup
	@$(BIN)/fieldline migrate
	@$(BIN)/fieldline demo --if-empty
	@HOST=$(HOST) PORT=$(PORT) $(BIN)/fieldline serve

migrate: setup
	@$(BIN)/fieldline migrate

demo: setup
	@$(BIN)/fieldline demo --if-empty

test: setup
	@$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .
	@$(BIN)/mypy

bench: setup
	@$(BIN)/python -m bench

soak: setup
	@FIELDLINE_SOAK=1 $(BIN)/python -m pytest -m slow -k convergence $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) fieldline.db fieldline.db-wal fieldline.db-shm test-artifacts .pytest_cache
