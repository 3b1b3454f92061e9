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

.PHONY: setup run test check lint ingest bench clean browser postgres

setup: $(STAMP)
	@$(BIN)/python -c "import convention_qa, pathlib, sys; \
	sys.exit(0 if pathlib.Path(convention_qa.__file__).resolve().is_relative_to(pathlib.Path('$(CURDIR)/src').resolve()) else 1)" \
	2>/dev/null || $(BIN)/pip install --quiet --no-deps --no-build-isolation -e .

# llama.cpp is built for this machine's CPU only, without the multimodal library (LLAVA_BUILD:
# `llama_cpp` loads it only for image chat, which the project does not use); its tests, examples,
# tools and server are not built either. The build (most of a first install) runs in the
# background while pip installs everything else. Each step prints the time it starts.
LLAMA_PIN := $(shell grep -i '^llama[-_]cpp[-_]python==' requirements.lock)
# make/llama.cmake leaves out what llama-cpp-python builds but does not load, and compiles the
# llama library as a unity build.
LLAMA_CMAKE_ARGS ?= -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
	-DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF -DGGML_NATIVE=ON \
	-DCMAKE_PROJECT_INCLUDE=$(CURDIR)/make/llama.cmake
step = @echo "[$$(date +%H:%M:%S)] $(1)"

$(STAMP): requirements.lock pyproject.toml
	$(call step,virtualenv $(VENV))
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel
	$(call step,building $(LLAMA_PIN) in the background (log: $(VENV)/llama-build.log))
	@rm -rf $(VENV)/llama-wheel && mkdir -p $(VENV)/llama-wheel
	@( CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip wheel --quiet --no-deps --wheel-dir $(VENV)/llama-wheel \
	     "$(LLAMA_PIN)" >$(VENV)/llama-build.log 2>&1; echo $$? >$(VENV)/llama-wheel/rc ) & \
	$(BIN)/pip install --quiet torch==2.13.0 && \
	echo "[$$(date +%H:%M:%S)] installing requirements.lock (all but llama-cpp-python)" && \
	grep -iv '^llama[-_]cpp[-_]python==' requirements.lock >$(VENV)/requirements-rest.txt && \
	$(BIN)/pip install --quiet -r $(VENV)/requirements-rest.txt && \
	echo "[$$(date +%H:%M:%S)] waiting for the llama.cpp build" && wait && \
	test "$$(cat $(VENV)/llama-wheel/rc)" = 0 || { tail -30 $(VENV)/llama-build.log; exit 1; }
	$(call step,installing the llama-cpp-python wheel)
	@$(BIN)/pip install --quiet --no-deps $(VENV)/llama-wheel/*.whl
	@rm -f $(VENV)/.deps-*
	@touch $@
	$(call step,dependencies installed)

ingest: setup
	$(call step,indexing corpus/)
	$(BIN)/convention-qa ingest

run: ingest
	$(call step,starting the app on http://127.0.0.1:7860)
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

# The quick loop while working: lint, types and the tests that need no model, browser or server.
# Installs nothing (run `make setup` once); about a minute.
check:
	@test -x $(BIN)/python || { echo "no virtualenv at $(VENV): run make setup first"; exit 2; }
	$(BIN)/ruff check src tests benchmarks app.py
	$(BIN)/ruff format --check src tests benchmarks app.py
	$(BIN)/mypy
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -m quick

bench: setup
	$(BIN)/python benchmarks/ingest.py

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
