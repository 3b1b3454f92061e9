# Two commands for a fresh machine (see README):
#   make run    set everything up, index corpus/, start the app
#   make test   set everything up, then lint, type-check and run every test
# VENV may point elsewhere (CI keeps one per lock file in its cache).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
LOCK_HASH := $(shell cat requirements.lock pyproject.toml | sha256sum | cut -c1-16)
STAMP := $(VENV)/.deps-$(LOCK_HASH)

export GRADIO_ANALYTICS_ENABLED := False
export ANONYMIZED_TELEMETRY := False
export HF_HUB_DISABLE_TELEMETRY := 1

.PHONY: setup run test lint ingest bench clean browser postgres

setup: $(STAMP)
	@$(BIN)/python -c "import convention_qa, pathlib, sys; \
	sys.exit(0 if pathlib.Path(convention_qa.__file__).resolve().is_relative_to(pathlib.Path('$(CURDIR)/src').resolve()) else 1)" \
	2>/dev/null || $(BIN)/pip install --quiet --no-deps --no-build-isolation -e .

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -r requirements.lock
	rm -f $(VENV)/.deps-*
	touch $@

ingest: setup
	$(BIN)/convention-qa ingest

run: ingest
	$(BIN)/python app.py

lint: setup
	$(BIN)/ruff check src tests benchmarks app.py
	$(BIN)/ruff format --check src tests benchmarks app.py
	$(BIN)/mypy

# The browser tests drive Debian's chromium (Playwright's own browser download is not used).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "install chromium (e.g. sudo apt-get install chromium) for the browser tests"; fi; }

# The conversation store's PostgreSQL mode is tested against a real server from Debian's package
# (tests/test_postgres.py starts it on 127.0.0.1 in a temporary folder).
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	  else echo "install PostgreSQL (e.g. sudo apt-get install postgresql) for the PostgreSQL tests"; fi; }

test: export HF_HUB_OFFLINE := 1
test: lint browser postgres
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python benchmarks/ingest.py

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
