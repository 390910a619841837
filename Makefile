# The two commands that matter: `make dev` (whole thing locally) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install dev test lint infra-check docs check bench bench-capacity screenshots clean

# The Python version is checked before the venv exists: an older Python would make one that
# pip then cannot install the project into. If making the venv or installing fails, a venv
# that no earlier `make` finished is removed, so the next `make` starts clean.
$(BIN)/.installed: pyproject.toml
	@version=$$($(PYTHON) -V 2>&1 | sed -n 's/^Python \([0-9][0-9]*\)\.\([0-9][0-9]*\).*/\1 \2/p'); \
	set -- $$version; \
	if [ $$# -ne 2 ] || [ "$$1" -lt 3 ] || { [ "$$1" -eq 3 ] && [ "$$2" -lt 11 ]; }; then \
		echo "Dispatch needs Python 3.11 or newer; found $${1:-no Python}$${2:+.$$2} at $$(command -v $(PYTHON) || echo $(PYTHON)); set PYTHON=python3.11" >&2; \
		exit 1; \
	fi
	$(PYTHON) -m venv $(VENV) \
		&& $(BIN)/python -m pip install --quiet --upgrade pip \
		&& $(BIN)/python -m pip install --quiet -e '.[dev,docs]' \
		|| { [ -f $@ ] || { rm -rf $(VENV); echo "removed the unfinished $(VENV)" >&2; }; exit 1; }
	touch $@

# The EVM payment tests' local chain (anvil) and Solidity compiler, from npm (tests/chain).
tests/chain/node_modules/.installed: tests/chain/package.json tests/chain/package-lock.json
	npm ci --prefix tests/chain --no-audit --no-fund
	touch $@

install: $(BIN)/.installed tests/chain/node_modules/.installed

dev: install ## API + SMTP listener + SQLite, migrated, prints an account key
	$(BIN)/dispatch-server dev

test: install ## the whole test suite, on SQLite and PostgreSQL
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# checkov pins its own boto3, botocore and packaging, older than the project's: it gets a
# virtualenv of its own.
CHECKOV_VENV ?= .venv-checkov
$(CHECKOV_VENV)/.installed:
	$(PYTHON) -m venv $(CHECKOV_VENV) \
		&& $(CHECKOV_VENV)/bin/python -m pip install --quiet 'checkov==3.3.30' \
		|| { rm -rf $(CHECKOV_VENV); exit 1; }
	touch $@

# infra/: the Dockerfile (hadolint), the Terraform (checkov; tests/infra parses it and checks
# its references), the workflows (actionlint with shellcheck, zizmor), the image's scripts.
infra-check: install $(CHECKOV_VENV)/.installed
	$(BIN)/hadolint --failure-threshold info infra/Dockerfile
	BC_SKIP_MAPPING=TRUE $(CHECKOV_VENV)/bin/checkov -d infra/terraform --framework terraform \
		--quiet --compact --skip-download
	$(BIN)/actionlint .github/workflows/*.yml
	$(BIN)/zizmor --offline --no-progress .github/workflows
	shellcheck infra/*.sh .ci/run

docs: install
	$(BIN)/mkdocs build --strict --site-dir site

check: lint infra-check docs test

bench: install
	$(BIN)/python -m bench.ingest_throughput
	$(BIN)/python -m bench.otp_latency
	$(BIN)/python -m bench.wait_herd --waiters 1000 --inboxes 1
	$(BIN)/python -m bench.smtp_idle --connections 1000,5000
	$(BIN)/python -m bench.worker_latency --rounds 100 --messages 500
	$(BIN)/python -m bench.send_throughput
	$(BIN)/python -m bench.sse_streams --streams 1000 --messages 5
	$(BIN)/python -m bench.webhook_delivery --messages 2000 --concurrency 16
	$(BIN)/python -m bench.smtp_vs_maildev --runs 1  # needs node and npm

bench-capacity: install ## the figures of docs/capacity.md (PostgreSQL at 127.0.0.1, about an hour)
	$(BIN)/python -m bench.scale_out --processes 1,2,4
	$(BIN)/python -m bench.data_growth --database postgresql --sizes 1000,100000,1000000 --purge 100000
	$(BIN)/python -m bench.data_growth --database sqlite --sizes 1000,100000,1000000 --purge 100000
	$(BIN)/python -m bench.tenants --database postgresql --workspaces 10,10000
	$(BIN)/python -m bench.tenants --database sqlite --workspaces 10,10000
	$(BIN)/python -m bench.wait_herd --waiters 2000 --inboxes 2000
	$(BIN)/python -m bench.sse_streams --streams 2000 --messages 2
	$(BIN)/python -m bench.smtp_idle --connections 1000,5000

screenshots: install ## the console's pages, for docs/console.md (needs chromium)
	$(BIN)/python -m tests.web.screenshots

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) site .dispatch .pytest_cache .mypy_cache .ruff_cache
