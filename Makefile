# Two commands: `make run` (serve on http://$(HOST):$(PORT)) and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# What serving needs, and what the tests need on top (the dev extras).
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
say = @printf '\n==> %s\n' $(1)

# llama.cpp, for the tests' real OpenAI-compatible model server, exists on PyPI only as
# source. A build with native CPU flags can die with SIGILL on the next machine of our kind
# (FIELD-NOTES: Xeons that advertise AMX/AVX-512), and pip's wheel cache does not tell builds
# apart by their flags. So we build it ourselves for a fixed baseline and keep the wheel in a
# folder named after that baseline; pip's own cache is never used for it.
LLAMA_VERSION := 0.3.36
ARCH := $(shell uname -m)
ifeq ($(ARCH),x86_64)
# x86-64-v3 (AVX2, FMA, F16C, BMI2): every x86-64 machine of our kind runs it; no AVX-512, no AMX.
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_CPU_ALL_VARIANTS=OFF -DGGML_SSE42=ON -DGGML_AVX=ON \
	-DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX_VNNI=OFF \
	-DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF -DGGML_AVX512_BF16=OFF \
	-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
else
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_CPU_ALL_VARIANTS=OFF
endif
LLAMA_BASELINE := $(shell printf '%s %s' '$(ARCH)' '$(LLAMA_CMAKE_ARGS)' | sha256sum | cut -c1-12)
WHEELHOUSE ?= $(HOME)/.cache/liveclass/wheels/llama-$(LLAMA_VERSION)-$(ARCH)-$(LLAMA_BASELINE)
LLAMA_WHEEL_STAMP := $(WHEELHOUSE)/.built

.PHONY: run test install install-run services system-deps lint typecheck pytest demo bench bench-live screenshots \
	bench-transcribe bench-matching bench-events llama-wheel test-busy clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Liveclass needs Python 3.11; set PYTHON=/path/to/python3.11"'
	$(call say,"creating the virtual environment $(VENV)")
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Serving installs only released wheels (--only-binary): nothing is compiled, so it is quick
# and the same on every machine. Reinstall whenever the dependency list changes.
$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(call say,"installing what serving needs (wheels only, nothing built from source)")
	$(BIN)/pip install --progress-bar off --only-binary :all: -e .
	touch $@

$(LLAMA_WHEEL_STAMP): | $(BIN)/python
	$(call say,"building llama.cpp $(LLAMA_VERSION) for a portable $(ARCH) baseline (once per machine, about 6 min on 2 cores)")
	mkdir -p $(WHEELHOUSE)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip wheel --no-cache-dir --no-deps \
		--no-binary llama-cpp-python -w $(WHEELHOUSE) llama-cpp-python==$(LLAMA_VERSION)
	touch $@

llama-wheel: $(LLAMA_WHEEL_STAMP)

$(DEV_STAMP): pyproject.toml $(RUN_STAMP) $(LLAMA_WHEEL_STAMP)
	$(call say,"installing the test tools (dev extras) with llama.cpp from $(WHEELHOUSE)")
	$(BIN)/pip install --progress-bar off --no-deps --force-reinstall --no-index \
		--find-links $(WHEELHOUSE) llama-cpp-python==$(LLAMA_VERSION)
	$(BIN)/pip install --progress-bar off --find-links $(WHEELHOUSE) -e '.[dev]'
	touch $@

install-run: $(RUN_STAMP)
install: $(DEV_STAMP)

## Set up and start the server on embedded defaults (SQLite and files under var/).
## `make run PORT=9000 HOST=0.0.0.0` serves elsewhere; links follow unless LIVECLASS_PUBLIC_URL is set.
run: $(RUN_STAMP)
	$(call say,"migrating the embedded database")
	$(BIN)/liveclass migrate
	$(call say,"serving on http://$(HOST):$(PORT)")
	$(BIN)/liveclass serve --host $(HOST) --port $(PORT)

## Seed demo people and a session starting now; prints their logins.
demo: $(RUN_STAMP)
	$(BIN)/liveclass demo

## Make sure PostgreSQL and Redis answer on loopback (installs and starts them if needed).
services:
	bash scripts/ensure-services.sh

## System tools the tests use: a compose client, Chromium, unshare and ip, espeak-ng and sox.
system-deps:
	bash scripts/ensure-tools.sh

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(DEV_STAMP)
	$(BIN)/mypy

pytest: $(DEV_STAMP) services system-deps
	$(BIN)/pytest

## Set up and pass everything CI checks: lint, types, and the suite on SQLite and PostgreSQL.
test: lint typecheck pytest

## The same, with one CPU-bound process per core running beside it: the suite must pass busy.
test-busy:
	bash scripts/busy-test.sh

## Benchmarks (a few minutes; figures and how to read them in docs/benchmarks.md).
bench: $(DEV_STAMP)
	$(BIN)/python -m bench.sfu_forwarding

## Forwarding with every participant recorded and transcribed live, beside it off (speaking bots).
bench-live: $(DEV_STAMP) system-deps
	$(BIN)/python -m bench.sfu_forwarding --live-transcription

## Transcription speed and accuracy on a 10-minute two-speaker session (espeak-ng speech),
## and a 30-minute session's end to its draft, transcribed after the end and live.
bench-transcribe: $(DEV_STAMP) system-deps
	$(BIN)/python -m bench.transcribe
## Events: 200 sessions end at once on Redis (two workers) and embedded, with and without a SIGKILL.
bench-events: $(DEV_STAMP) services
	$(BIN)/python -m bench.events --backend both --sessions 200 --workers 2
	$(BIN)/python -m bench.events --backend both --sessions 200 --workers 2 --kill-after 0.3
## Batch matching: CP-SAT against greedy first fit on 5,000 generated requests (seconds).
bench-matching: $(DEV_STAMP)
	$(BIN)/python -m bench.matching

## The web app's screenshots in docs/screenshots/, from its browser journeys (tests/browser/portal.py, session.py).
screenshots: $(DEV_STAMP) system-deps
	unshare --net sh -c 'ip link set lo up && exec $(BIN)/python -m tests.browser.portal /tmp/liveclass-screenshots.json docs/screenshots'
	unshare --net sh -c 'ip link set lo up && exec $(BIN)/python -m tests.browser.session /tmp/liveclass-lesson.json docs/screenshots'

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
