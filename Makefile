# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test test-postgres install install-test provision migrate demo lint typecheck format screenshots bench bench-postgres soak clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstall when the dependency list changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

# What the tests need from the machine: Debian's Chromium, a running local PostgreSQL.
provision:
	bash tests/provision.sh

migrate: install
	$(BIN)/dashboard migrate

demo: migrate
	$(BIN)/dashboard demo

run: demo
	$(BIN)/dashboard serve --host $(HOST) --port $(PORT)

lint: install-test
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: install-test
	$(BIN)/mypy

format: install-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The whole suite on SQLite, then the integration and prices tests again on PostgreSQL
# (skipped when no PostgreSQL answers at 127.0.0.1:5432, except under CI where that fails
# the run; the prices tests cover PostgreSQL's own import path and bar locking).
# Branch coverage is measured on the SQLite run only, so the figure is the same with or
# without a PostgreSQL; below pyproject.toml's fail_under the run fails. The SQLite run
# uses both cores (pytest-xdist: 6 minutes instead of 10 to 12); the PostgreSQL run stays
# in one process, as its servers share the database's advisory locks and channels. Tests
# marked "alone" time the page's main thread: beside another worker's Chromium and server
# the same page showed 50-60 ms tasks that a quiet run does not, so they run after the
# others, without coverage's tracing slowing the server beside them.
# The tests marked "waits" spend minutes waiting out real time (a server kept down): they
# run beside the main suite, not in one of its two workers. "alone" measures the page's own
# work and runs after, on a quiet machine.
test: install-test provision lint typecheck
	$(BIN)/pytest -m waits -p no:cacheprovider & waits=$$!; \
	  $(BIN)/pytest --cov -n 2 -m "not alone and not waits"; main=$$?; \
	  wait $$waits; waited=$$?; test $$main -eq 0 && test $$waited -eq 0
	$(BIN)/pytest -m alone
	DASHBOARD_TEST_STORES=postgresql $(BIN)/pytest -n 2 tests/integration tests/prices

screenshots: install-test provision
	$(BIN)/python docs/make_screenshots.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .coverage .coverage.*

# Fan-out figures (not part of `make test`): ticks into the store -> N SSE streams.
bench: install
	$(BIN)/pip install --quiet -e ".[bench]"
	$(BIN)/python bench/fanout.py --streams 100 1000 2000 5000 10000 --naive-streams 100 300 500 700 1000 \
		--seconds 10 --frozen 0.05 --storm --out docs/bench-results.json
	$(BIN)/python bench/plot.py docs/bench-results.json docs/images/bench.png
	$(BIN)/python bench/notify.py --streams 100 1000 --posts 20
	$(BIN)/python bench/request_heads.py --seconds 5 --connections 20
	$(BIN)/python bench/ingest.py --lines 200000 --seconds 5 --out docs/bench-ingest.json
	$(BIN)/python bench/wire.py --seconds 60 --out docs/bench-wire.json

# Ingest alone (docs/benchmarks.md, "Ingest"): file import, POST /api/ticks against a bare
# FastAPI + sqlite3 and a Node.js + better-sqlite3 server, four PostgreSQL importers, WS ingest.
bench-ingest: install
	$(BIN)/pip install --quiet -e ".[bench]"
	$(BIN)/python bench/ingest.py --lines 200000 --seconds 5 --out docs/bench-ingest.json

# Longer fault runs for docs/reliability.md (not part of `make test`; several minutes).
soak: install
	$(BIN)/python bench/soak.py kill9 --streams 300 --missed 50
	$(BIN)/python bench/soak.py sigterm --streams 300 --missed 50
	$(BIN)/python bench/soak.py kill9 --streams 2000 --missed 20
	$(BIN)/python bench/soak.py contention --streams 1000 --seconds 20

# Cross-process wake-up on PostgreSQL: posted on one server -> a stream on another.
bench-postgres: install
	$(BIN)/python bench/cross_process.py --posts 50

# The whole suite against PostgreSQL (127.0.0.1:5432, database `test`; each test gets its
# own schema).
test-postgres: install-test provision
	DASHBOARD_TEST_STORES=postgresql $(BIN)/pytest
