# The two front-door commands: `make run` and `make test`. Everything else is bootstrapped from a bare
# Python 3.11: a .venv with uv inside it, then `uv sync --locked` from the committed uv.lock.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
UV := $(VENV)/bin/uv
RUN := $(UV) run --no-sync
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)

.PHONY: run test test-citus fuzz soak lint migrate fmt bench clean

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check 'uv>=0.13,<0.14'

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --locked
	@touch $@

run: $(VENV)/.synced ## migrate, create the demo admin/tenant once, serve on 127.0.0.1:8000
	$(RUN) reten run

test: lint ## the whole suite against a real PostgreSQL (embedded unless TEST_DATABASE_URL is set)
	$(RUN) pytest

test-citus: $(VENV)/.synced ## the whole suite against a local Citus cluster (coordinator + 2 workers, CITUS_EXTENSION)
	TEST_CITUS=1 TEST_DB_NAME=reten_citus_test $(RUN) pytest

fuzz: $(VENV)/.synced ## the schemathesis fuzzer of tests/test_openapi_fuzz.py, with many more cases (minutes)
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-200} FUZZ_STEPS=$${FUZZ_STEPS:-20} $(RUN) pytest tests/test_openapi_fuzz.py

soak: $(VENV)/.synced ## the reliability suite SOAK_ROUNDS times in a row (default 20): a fault test that fails one run in twenty shows here
	for round in $$(seq 1 $${SOAK_ROUNDS:-20}); do echo "soak round $$round"; $(RUN) pytest tests/reliability -q -p no:cacheprovider || exit 1; done

lint: $(VENV)/.synced ## ruff, mypy --strict over app/ (pyproject.toml) and hadolint
	$(RUN) ruff check .
	$(RUN) mypy
	$(RUN) hadolint --failure-threshold warning Containerfile

migrate: $(VENV)/.synced
	$(RUN) reten migrate

bench: $(VENV)/.synced ## print benchmark figures (fresh database in the embedded cluster)
	$(RUN) reten bench sync --items 1000
	$(RUN) reten bench activities --concurrency 32 --duration 10 --workers 2
	$(RUN) reten bench pull --duration 10 --workers 2
	$(RUN) reten bench dispatch
	$(RUN) reten bench citus --duration 10 --workers 2

fmt: $(VENV)/.synced
	$(RUN) ruff format app tests
	$(RUN) ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
