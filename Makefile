# The two commands of the README: `make up` deploys the default stack, `make test` checks it all.
SHELL := /bin/bash
.DEFAULT_GOAL := help

STACK ?= local-demo
VENV := .venv
PYTHON := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# The local file backend keeps state inside the project, so no account is needed.
STATE_DIR := $(CURDIR)/.pulumi-state
# Encrypts the secrets in local state; set your own before deploying anything you keep.
export PULUMI_CONFIG_PASSPHRASE ?= cncfdemo-local-state

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

.PHONY: help up destroy test lint venv deps-test bench

help:
	@echo "make up       deploy the $(STACK) stack (needs the pulumi CLI, kind and kubectl)"
	@echo "make destroy  remove everything the $(STACK) stack made"
	@echo "make test     install what the tests need, then run ruff and pytest"
	@echo "make bench    print render, cost and compare timings per stack"

$(VENV)/bin/activate:
	python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

venv: $(VENV)/bin/activate

up: venv
	@command -v pulumi >/dev/null || { echo "The pulumi CLI is not installed: see https://www.pulumi.com/docs/install/ (curl -fsSL https://get.pulumi.com | sh), then run make up again." >&2; exit 1; }
	@if [ "$(STACK)" = local-demo ]; then for tool in kind kubectl; do command -v $$tool >/dev/null || { echo "$$tool is needed for the local stack: see the README's 'Before you start'." >&2; exit 1; }; done; fi
	$(PIP) install --quiet -e '.[local]'
	mkdir -p $(STATE_DIR)
	pulumi login "file://$(STATE_DIR)"
	pulumi stack select --create $(STACK) --non-interactive
	pulumi up --stack $(STACK) --yes --non-interactive --skip-preview

destroy:
	pulumi login "file://$(STATE_DIR)"
	pulumi destroy --stack $(STACK) --yes --non-interactive

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
