# The targets CI runs are exactly these. Each installs what it needs into .venv
# (and the Snowflake CLI into .venv-snow: it pins its own dependencies exactly).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SNOW_VENV := .venv-snow
SNOW := $(SNOW_VENV)/bin/snow
SNOWFLAKE_CLI_VERSION := 3.30.0
# checkov pins its own dependency tree (as the Snowflake CLI does): a venv of its own.
CHECKOV_VENV := .venv-checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov
CHECKOV_VERSION := 3.3.30
STAMP := $(VENV)/.installed

.PHONY: install demo test lint format pytest clean snow build deploy-plan lambda streamer-package chaos bench browser

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(SNOW):
	$(PYTHON) -m venv $(SNOW_VENV)
	$(SNOW_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SNOW_VENV)/bin/python -m pip install --quiet 'snowflake-cli==$(SNOWFLAKE_CLI_VERSION)'

$(CHECKOV):
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet 'checkov==$(CHECKOV_VERSION)'

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

## build: the procedure archive, exactly as `mempool deploy` builds it
build: $(STAMP) $(SNOW)
	SNOW_BIN=$(abspath $(SNOW)) $(BIN)/python -c 'from sandbox.artifacts import build_procedures; print(build_procedures())'

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

## lint: ruff (lint and format), mypy, and the workflows (actionlint, zizmor; offline)
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/actionlint
	$(BIN)/zizmor --offline --min-severity low .github/workflows

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## lambda: the poller's Lambda package (output/lambda/poller.zip), as Terraform uploads it
lambda: $(STAMP)
	$(BIN)/python -m sandbox.lambda_package

## streamer-package: the streamer's wheelhouse (output/streamer/wheelhouse.tar.gz), as
## Terraform uploads it: the project wheel and the wheels requirements.streamer.txt pins
## for the instance (AL2023 aarch64, Python 3.11), downloaded from PyPI, hash-checked.
## ARGS=--update-lock re-resolves pyproject.toml's dependencies into that file first.
streamer-package: $(STAMP)
	$(BIN)/python -m sandbox.streamer_package $(ARGS)

## pytest: the test suite alone, on two workers (a module stays on one worker)
## (the procedure archive is built first, once, so the workers never race to build it)
pytest: $(STAMP) $(SNOW) $(CHECKOV) build browser
	SNOW_BIN=$(abspath $(SNOW)) CHECKOV_BIN=$(abspath $(CHECKOV)) CHROMIUM=$(CHROMIUM) CHROMEDRIVER=$(CHROMEDRIVER) $(BIN)/pytest -n 2 --dist loadfile $(PYTEST_ARGS)

## test: everything CI checks
test: lint pytest

clean:
	rm -rf $(VENV) $(SNOW_VENV) $(CHECKOV_VENV) output .mempool .pytest_cache .mypy_cache .ruff_cache
