# The one entry point for humans and CI. Every target creates the virtualenv it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | sha256sum | cut -c1-12)
PG_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/test

.PHONY: install node-deps test-browser fmt lint typecheck check test test-unit test-api test-e2e test-pg \
        run run-auth run-resource run-upstream migrate seed revision up down clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

# The Node relying party of the OIDC end-to-end tests; skipped where there is no npm.
NODE_RP := tests/e2e/node/node_modules/.package-lock.json
$(NODE_RP): tests/e2e/node/package.json tests/e2e/node/package-lock.json
	if command -v npm >/dev/null 2>&1; then npm ci --prefix tests/e2e/node --no-audit --no-fund --loglevel=error; fi

# axe-core for the browser tests' accessibility check; skipped where there is no npm.
AXE := tests/browser/node_modules/.package-lock.json
$(AXE): tests/browser/package.json tests/browser/package-lock.json
	if command -v npm >/dev/null 2>&1; then npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error; fi

node-deps: $(NODE_RP) $(AXE)

fmt: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy

check: lint typecheck test

test: install node-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-unit: install
	$(BIN)/python -m pytest tests/unit tests/test_architecture.py $(PYTEST_ARGS)

test-api: install
	$(BIN)/python -m pytest tests/api tests/storage $(PYTEST_ARGS)

test-e2e: install node-deps
	$(BIN)/python -m pytest tests/e2e $(PYTEST_ARGS)

test-browser: install node-deps
	$(BIN)/python -m pytest tests/browser $(PYTEST_ARGS)

test-pg: install node-deps
	TEST_DATABASE_URL=$(PG_URL) $(BIN)/python -m pytest $(PYTEST_ARGS)

migrate: install
	$(BIN)/auth-service db upgrade

seed: migrate
	$(BIN)/auth-service demo seed

# make revision m="add consent expiry"
revision: install
	$(BIN)/auth-service db revision -m "$(m)"

# The auth service, the resource API and CoolNotesApp (examples/coolnotes), seeded and registered.
run: seed
	$(BIN)/python scripts/run_dev.py

# A second auth service at http://localhost:8010 that `make run`'s can sign in with (README
# "Sign in with another provider"); start it beside `make run`, in another terminal.
run-upstream: migrate
	$(BIN)/python scripts/run_upstream.py

run-auth: migrate
	$(BIN)/uvicorn auth_service.main:create_app --factory --host 127.0.0.1 --port 8000 --loop uvloop --http httptools --no-access-log

run-resource: install
	$(BIN)/uvicorn resource_service.main:create_app --factory --host 127.0.0.1 --port 8001 --loop uvloop --http httptools --no-access-log

up:
	docker-compose up --build

down:
	docker-compose down

# Benchmarks (issue 7; the README's "Performance"): not part of `make test`, which runs the smoke mode.
.PHONY: bench bench-full
INSTALL_WRK := command -v wrk >/dev/null 2>&1 || apt-get install -y -qq wrk || (apt-get update -qq && apt-get install -y -qq wrk)

bench: install
	$(INSTALL_WRK)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

bench-full: install
	$(INSTALL_WRK)
	$(BIN)/python bench/run.py --full $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# Scale-out and the fault suite (issue 8; the README's "Running several instances" and "Reliability").
.PHONY: run-cluster chaos chaos-ci

# 2 auth + 2 resource instances on PostgreSQL (database myauth_cluster) and Redis, Ctrl-C stops all.
run-cluster: install
	$(BIN)/python scripts/run_cluster.py

# Every scenario (~6 minutes); stops PostgreSQL for 10 s once. Exits non-zero on any FAIL.
chaos: install
	$(BIN)/python -m chaos $(CHAOS_ARGS)

# The CI subset (scenarios 1, 2 and 6, shortened baseline; ~2 minutes).
chaos-ci: install
	$(BIN)/python -m chaos --ci $(CHAOS_ARGS)
