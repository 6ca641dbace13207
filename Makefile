# The two commands of the README: `make up` deploys the default stack, `make test` checks it all.
SHELL := /bin/bash
.DEFAULT_GOAL := help

STACK ?= local-demo
VENV ?= .venv
PYTHON := $(VENV)/bin/python
PIP ?= $(VENV)/bin/pip
# The local file backend keeps state inside the project, so no account is needed. It is given
# through the environment rather than `pulumi login`, which would change the backend of every
# other project on this machine.
STATE_DIR ?= $(CURDIR)/.pulumi-state
PULUMI := PULUMI_BACKEND_URL=file://$(STATE_DIR) pulumi
# The provider extra to install, read from the stack file (an AWS stack needs pulumi-aws).
STACK_PROVIDER = $(shell sed -n 's/^[[:space:]]*cncfdemo:provider:[[:space:]]*//p' \
	Pulumi.$(STACK).yaml 2>/dev/null | tr -d "\"' ")
# A throw-away kind cluster may use a passphrase everyone knows; a cloud stack's state holds
# its cluster's CA keys, so it must be encrypted with one of your own.
ifeq ($(STACK),local-demo)
export PULUMI_CONFIG_PASSPHRASE ?= cncfdemo-local-state
endif

# What the tests run for real (see DESIGN.md, "Seeing it without a cloud").
TEST_APT_PACKAGES := prometheus prometheus-pushgateway wrk cloud-init shellcheck packer \
	debootstrap systemd systemd-container iproute2 chromium nodejs fonts-dejavu-core \
	ca-certificates curl zstd dpkg-dev gpg
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# checkov pins old boto3 and packaging, so it lives in its own virtual environment, pinned here.
CHECKOV_VENV := .venv-checkov
CHECKOV_VERSION := 3.3.30
# mongosh (from npm, run by node) runs the MongoDB scripts in the tests as the mongo image does.
MONGOSH_DIR := .tools/mongosh
MONGOSH_VERSION := 2.12.0

.PHONY: help up up-tools destroy test lint venv deps-test bench

help:
	@echo "make up       deploy the $(STACK) stack (needs the pulumi CLI; kind and kubectl for local-demo)"
	@echo "make destroy  remove everything the $(STACK) stack made"
	@echo "make test     install what the tests need, then run ruff and pytest"
	@echo "make bench    print render, cost and compare timings per stack"

$(VENV)/bin/activate:
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip

venv: $(VENV)/bin/activate

# Everything `up` needs that it cannot install itself, checked before anything is touched.
up-tools:
	@command -v pulumi >/dev/null || { echo "The pulumi CLI is not installed: see https://www.pulumi.com/docs/install/ (curl -fsSL https://get.pulumi.com | sh), then run make up again." >&2; exit 1; }
	@[ -f Pulumi.$(STACK).yaml ] || { echo "There is no stack file Pulumi.$(STACK).yaml: choose one of $$(ls Pulumi.*.yaml | sed 's/^Pulumi\.//; s/\.yaml$$//' | tr '\n' ' ')with STACK=<name>." >&2; exit 1; }
	@[ -n "$(STACK_PROVIDER)" ] || { echo "Pulumi.$(STACK).yaml sets no cncfdemo:provider: set it with pulumi config set cncfdemo:provider <provider> --stack $(STACK)." >&2; exit 1; }
	@[ -n "$$PULUMI_CONFIG_PASSPHRASE" ] || { echo "$(STACK) keeps its cluster's keys in its state: export PULUMI_CONFIG_PASSPHRASE=<a passphrase of your own> first (and keep it: the state cannot be read without it)." >&2; exit 1; }
	@if [ "$(STACK_PROVIDER)" = local ]; then for tool in kind kubectl; do command -v $$tool >/dev/null || { echo "$$tool is needed for the local stack: see the README's 'Before you start'." >&2; exit 1; }; done; fi

up: up-tools venv
	$(PIP) install --quiet -e '.[$(STACK_PROVIDER),benchmark]'
	mkdir -p $(STATE_DIR)
	$(PULUMI) stack select --create $(STACK) --non-interactive
	$(PULUMI) up --stack $(STACK) --yes --non-interactive --skip-preview

destroy:
	$(PULUMI) destroy --stack $(STACK) --yes --non-interactive

deps-test: venv $(CHECKOV_VENV)/checkov-$(CHECKOV_VERSION).installed
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(TEST_APT_PACKAGES) >/dev/null
	@# kubectl for the readiness gate's tests: Debian's only where none is on the PATH, since a
	@# kubectl packaged elsewhere (Google Cloud SDK) owns the same file
	command -v kubectl >/dev/null || DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends kubernetes-client >/dev/null
	$(PIP) install --quiet -e '.[dev]'
	@# after the packages: npm comes with nodejs
	$(MAKE) --no-print-directory $(MONGOSH_DIR)/mongosh-$(MONGOSH_VERSION).installed

# A marker per version, so changing CHECKOV_VERSION installs the new one.
$(CHECKOV_VENV)/checkov-$(CHECKOV_VERSION).installed:
	python3 -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet checkov==$(CHECKOV_VERSION)
	touch $@

$(MONGOSH_DIR)/mongosh-$(MONGOSH_VERSION).installed:
	mkdir -p $(MONGOSH_DIR)
	npm install --prefix $(MONGOSH_DIR) --no-audit --no-fund --omit=optional --loglevel=error \
		mongosh@$(MONGOSH_VERSION)
	touch $@

lint:
	$(VENV)/bin/ruff check .

test: deps-test lint
	$(PYTHON) -m pytest

bench: venv
	$(PYTHON) scripts/bench_render.py
	$(PYTHON) scripts/bench_cost_compare.py
