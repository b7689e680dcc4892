# Two commands set up everything on a fresh machine: `make train` and `make test`.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
HOST    ?= 127.0.0.1
PORT    ?= 5000
ARGS    ?=

.PHONY: install system-deps train sweep paper-tables ui test test-fast bench lint format demo-corpus clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -e '.[dev,scale,ui-test]'
	touch $(STAMP)

install: $(STAMP)

# flite (voices built from real speakers' recordings) and espeak-ng give the demo corpus its voices; a numpy
# synthesiser is the fallback without them. tuxpaint-stamps-default and klettres-data hold real recorded talkers
# and sound effects: real voices for the demo corpus (data.demo.voices) and the real noises of the real-speech
# check's `realnoise` set (rcnn_se.data.debian_audio); without them both fall back, with a warning.
DEBS    := flite espeak-ng tuxpaint-stamps-default klettres-data
system-deps:
	@{ command -v flite >/dev/null && command -v espeak-ng >/dev/null && [ -d /usr/share/tuxpaint/stamps ] \
	   && [ -d /usr/share/klettres ]; } || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(DEBS); \
	  else echo "missing Debian packages: sudo apt-get install $(DEBS) (the demo corpus falls back without them)"; fi; }

demo-corpus: install
	$(BIN)/rcnn-se make-demo-corpus --root data/demo_corpus

train: install system-deps
	$(BIN)/python train.py $(ARGS)

sweep: install system-deps
	$(BIN)/python train.py -m model=rcnn,cnn dropout=0,0.2 $(ARGS)

paper-tables: install
	$(BIN)/rcnn-se paper-tables $(ARGS)

ui: install
	@echo "open http://$(HOST):$(PORT)/#/experiments?workflowType=machine_learning (the model-training view)"
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlruns/mlflow.db \
	  --default-artifact-root $(CURDIR)/mlruns/artifacts --host $(HOST) --port $(PORT)

# Tests run on every core (pytest-xdist; at most 4 workers): most of their time is train.py subprocesses
# importing torch on one core. (One worker more than cores, 3 on 2 cores, was no faster: 672 s against 666 s
# for the suite on an idle 2-core EPYC, 2026-12-07.) Tests sharing a session fixture carry an xdist_group, so
# one worker builds it and the others never wait for it (pyproject pins pytest < 9.2, where loadgroup works);
# the fixture is built once under a file lock (tests/conftest.py) wherever they land. `make test-fast` (no @pytest.mark.slow: no jobs, no corpora) is the inner loop.
XDIST   ?= -n auto --maxprocesses 4 --dist loadgroup
# The slowest tests are listed at the end of every run, so the suite's 10-minute budget can be watched.
DURATIONS ?= --durations=25 --durations-min=5

test: install system-deps
	$(BIN)/python -m pytest -q $(XDIST) $(DURATIONS) $(ARGS)

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow" $(XDIST) $(ARGS)

bench: install system-deps
	$(BIN)/python benchmarks/run_all.py $(ARGS)

lint: install
	$(BIN)/ruff check src tests benchmarks train.py eval.py
	$(BIN)/ruff format --check src tests benchmarks train.py eval.py

format: install
	$(BIN)/ruff format src tests benchmarks train.py eval.py
	$(BIN)/ruff check --fix src tests benchmarks train.py eval.py

clean:
	rm -rf outputs multirun .pytest_cache .ruff_cache
