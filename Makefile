# The two commands the README names:
#   make lab    bring the lab up (installing what is missing) and run its main job
#   make test   run the whole test suite (this is what .ci/run calls)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: lab test bench down status lint fmt system-deps clean flake-check

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "wirelab needs Python 3.11+, found " + sys.version.split()[0]'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

# Tools from Debian's archive, per target (`.ci/system-deps.sh lab|test|bench`). Installs
# only what is missing, and only when it can (root with apt); otherwise it says what is
# missing, `lab up` falls back to the local backend, and the tests that need a tool say so.
system-deps:
	@bash .ci/system-deps.sh all

# `lab up` picks docker when an engine answers and the image can be made, else the local
# backend, with one line saying why and the command that would enable Docker.
lab: $(STAMP)
	@bash .ci/system-deps.sh lab
	$(BIN)/lab up
	$(BIN)/lab run all

test: $(STAMP)
	@bash .ci/system-deps.sh test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

bench: $(STAMP)
	@bash .ci/system-deps.sh bench
	$(BIN)/python -m bench

# The flakiness proof: the whole scenario library 20 times in a row; exit 0 only if every run passed.
flake-check: $(STAMP)
	$(BIN)/lab run all --up --repeat 20 --junit .lab/flake-check.xml --json .lab/flake-check.json

down:
	$(BIN)/lab down

status:
	$(BIN)/lab status

lint: $(STAMP)
	$(BIN)/ruff check .

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean: down
	rm -rf $(VENV) .lab
