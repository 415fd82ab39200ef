# The two commands: `make up` runs the whole system, `make test` passes the tests.
# Both set up what they need on a fresh machine (virtualenv, packages, a JDK and
# Maven for the test Kafka broker).

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: up test bench java clean

up: $(INSTALLED)
	$(BIN)/iotmon up

test: $(INSTALLED) java
	$(BIN)/pytest

bench: $(INSTALLED) java
	$(BIN)/python -m tests.bench

$(INSTALLED): pyproject.toml
	@$(PYTHON) -m venv --help >/dev/null 2>&1 || $(call apt_install,python3-venv)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing Python packages into $(VENV)…"
	@$(BIN)/pip install --quiet --upgrade pip
	@$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

# Java 17+ and Maven fetch and run the real Kafka broker the tests start.
java:
	@command -v java >/dev/null && command -v mvn >/dev/null || $(call apt_install,default-jdk-headless maven)

define apt_install
	(echo "installing Debian packages: $(1)…" && \
	 $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq && \
	 $(if $(filter 0,$(shell id -u)),,sudo) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(1) >/dev/null)
endef

clean:
	rm -rf $(VENV) build *.egg-info
