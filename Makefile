# Two commands: `make run` (serve on http://127.0.0.1:8000) and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install services system-deps lint typecheck pytest demo bench bench-transcribe bench-matching bench-events clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Liveclass needs Python 3.11; set PYTHON=/path/to/python3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstall whenever the dependency list changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Set up and start the server on embedded defaults (SQLite and files under var/).
run: $(STAMP)
	$(BIN)/liveclass migrate
	$(BIN)/liveclass serve --host 127.0.0.1 --port 8000

## Seed demo people and a session starting now; prints their logins.
demo: $(STAMP)
	$(BIN)/liveclass demo

## Make sure PostgreSQL and Redis answer on loopback (installs and starts them if needed).
services:
	bash scripts/ensure-services.sh

## System tools the tests use: a compose client, Chromium, unshare and ip, espeak-ng and sox.
system-deps:
	bash scripts/ensure-tools.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) services system-deps
	$(BIN)/pytest

## Set up and pass everything CI checks: lint, types, and the suite on SQLite and PostgreSQL.
test: lint typecheck pytest

## Benchmarks (a few minutes; figures and how to read them in docs/benchmarks.md).
bench: $(STAMP)
	$(BIN)/python -m bench.sfu_forwarding

## Transcription speed and accuracy on a 10-minute two-speaker session (espeak-ng speech).
bench-transcribe: $(STAMP) system-deps
	$(BIN)/python -m bench.transcribe
## Events: 200 sessions end at once on Redis (two workers) and embedded, with and without a SIGKILL.
bench-events: $(STAMP) services
	$(BIN)/python -m bench.events --backend both --sessions 200 --workers 2
	$(BIN)/python -m bench.events --backend both --sessions 200 --workers 2 --kill-after 0.3
## Batch matching: CP-SAT against greedy first fit on 5,000 generated requests (seconds).
bench-matching: $(STAMP)
	$(BIN)/python -m bench.matching

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
