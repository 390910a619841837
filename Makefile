# The two commands that matter: `make dev` (whole thing locally) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install dev test lint docs check bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,docs]'
	touch $@

install: $(BIN)/.installed

dev: install ## API + SMTP listener + SQLite, migrated, prints an account key
	$(BIN)/dispatch-server dev

test: install ## the whole test suite, on SQLite and PostgreSQL
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

docs: install
	$(BIN)/mkdocs build --strict --site-dir site

check: lint docs test

bench: install
	$(BIN)/python -m bench.ingest_throughput
	$(BIN)/python -m bench.otp_latency

clean:
	rm -rf $(VENV) site .dispatch .pytest_cache .mypy_cache .ruff_cache
