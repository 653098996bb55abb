# The two commands of the README: `make serve` and `make test`.
# Everything is installed into ./.venv from PyPI; nothing is needed on the machine but Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test bench mutation clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

## Set up and start the server on the embedded default (SQLite under ./data, port 8080).
serve: $(STAMP)
	$(BIN)/village-broadcast serve

## axe-core for the accessibility tests (package.json, pinned by package-lock.json); the server needs no Node.
AXE := node_modules/axe-core/axe.min.js
$(AXE): package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $(AXE)

## Parallel test workers (pytest-xdist): most of a test's time is spent waiting on a server, a browser or a
## timer, so more workers than cores pay; each has its own PostgreSQL database (tests/conftest.py).
TEST_WORKERS ?= 4

## Set up and run the whole test suite (on SQLite, and on PostgreSQL when one answers at VB_TEST_POSTGRES_URL),
## after the lint gate (ruff, configured in pyproject.toml).
test: $(STAMP) $(AXE)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

## Benchmarks: not part of the tests; they print ratios and percentiles.
bench: $(STAMP)
	$(BIN)/python bench/fanout.py

## Mutation testing of the modules that carry the promises (not part of `make test`; about 4,050 mutants,
## several hours on 2 cores; interrupted, it continues where it stopped). Results: docs/testing.md.
mutation: $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,mutation]'
	$(BIN)/mutmut run --max-children $$(nproc)
	$(BIN)/python tests/mutation_score.py

clean:
	rm -rf $(VENV) data mutants node_modules
