# The two commands: `make up` runs the whole system, `make test` passes the tests.
# Both set up what they need on a fresh machine (virtualenv, Python and npm
# packages, the built dashboard, a JDK and Maven for the test Kafka broker,
# Chromium for the browser tests).

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

DASHBOARD := frontend/dist/index.html
DASHBOARD_SOURCES := $(shell find frontend/src -type f 2>/dev/null) frontend/index.html frontend/package.json frontend/package-lock.json frontend/vite.config.ts frontend/tsconfig.json
NODE_MODULES := frontend/node_modules/.package-lock.json

.PHONY: up test lint generate bench eval chaos java chromium mosquitto node dashboard clean

up: $(INSTALLED) $(DASHBOARD)
	$(BIN)/iotmon up

test: lint java chromium mosquitto $(DASHBOARD)
	cd frontend && npm test --silent
	$(BIN)/pytest

# Style, types and layering, Python and dashboard; the generated files' freshness is a test (test_generated).
lint: $(INSTALLED) $(NODE_MODULES)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	cd frontend && npm run --silent typecheck && npm run --silent lint && npm run --silent format:check

# The files derived from the contracts (iotmon/core/contracts): JSON Schemas, TypeScript types, OpenAPI.
generate: $(INSTALLED)
	$(BIN)/iotmon generate

bench: $(INSTALLED) java chromium mosquitto $(DASHBOARD)
	$(BIN)/python -m tests.bench

# Detection quality: every NAB series and SKAB file replayed through a detector, scored with NAB's scoring
# beside the published detectors (README: Evaluation; about 20 s with the reference detector on 2 cores; not part
# of `make test`). Options through EVAL_ARGS, e.g.
# `make eval EVAL_ARGS="--detector tests.eval.reference:windowed_gaussian"`.
eval: $(INSTALLED)
	$(BIN)/python -m tests.eval $(EVAL_ARGS)

# Random faults under steady load, distributed and embedded, then the invariants (10–20 minutes; not part of
# `make test`). No browser and no dashboard build: the checks use the API and a Socket.IO client.
# Options through CHAOS_ARGS, e.g. `make chaos CHAOS_ARGS="--mode embedded --seed 7"`.
chaos: $(INSTALLED) java
	$(BIN)/python -m tests.chaos $(CHAOS_ARGS)

$(INSTALLED): pyproject.toml
	@$(PYTHON) -m venv --help >/dev/null 2>&1 || $(call apt_install,python3-venv)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing Python packages into $(VENV)…"
	@$(BIN)/pip install --quiet --upgrade pip
	@$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

# The dashboard: npm packages from the lock file, then a Vite build the service serves at /.
dashboard: $(DASHBOARD)

$(DASHBOARD): $(NODE_MODULES) $(DASHBOARD_SOURCES)
	@echo "building the dashboard (frontend/dist)…"
	@cd frontend && npm run build --silent
	@touch $@

$(NODE_MODULES): frontend/package-lock.json | node
	@echo "installing the dashboard's npm packages…"
	@cd frontend && npm ci --no-audit --no-fund --loglevel=error

# Node.js 20.19+ builds the dashboard (Vite 8).
node:
	@command -v npm >/dev/null || $(call apt_install,nodejs npm)

# Debian's Chromium runs the browser tests (Playwright drives it; it never downloads a browser).
chromium:
	@command -v chromium >/dev/null || $(call apt_install,chromium)

# Debian's Mosquitto (and its clients) is the real MQTT broker the bridge's tests and benchmark start.
mosquitto:
	@command -v mosquitto >/dev/null && command -v mosquitto_pub >/dev/null || $(call apt_install,mosquitto mosquitto-clients)

# Java 17+ and Maven fetch and run the real Kafka broker the tests start.
java:
	@command -v java >/dev/null && command -v mvn >/dev/null || $(call apt_install,default-jdk-headless maven)

define apt_install
	(echo "installing Debian packages: $(1)…" && \
	 $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq && \
	 $(if $(filter 0,$(shell id -u)),,sudo) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(1) >/dev/null)
endef

clean:
	rm -rf $(VENV) build *.egg-info frontend/node_modules frontend/dist
