# The two set-up commands (see README): `make run` and `make test`. Both install what they need.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: run test check setup setup-test clean

run: setup
	$(BIN)/clinicast seed
	$(BIN)/clinicast serve

# The packaged Whisper model is assembled once per machine into this cache (tests verify it).
export CLINICAST_TEST_MODEL_CACHE ?= $(CURDIR)/.cache/test-model

test: setup-test
	$(BIN)/python scripts/check.py
	$(BIN)/pytest

check: setup-test
	$(BIN)/python scripts/check.py

setup:
	PYTHON=$(PYTHON) VENV=$(VENV) scripts/setup.sh run

setup-test:
	PYTHON=$(PYTHON) VENV=$(VENV) scripts/setup.sh test

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
