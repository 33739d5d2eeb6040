# Two commands for a fresh machine: `make run` serves the bot, `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
HOST ?= 127.0.0.1
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: run test lint index check build release import soak bench fuzz eval eval-external calibrate clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# CPU torch first: a bare `torch` would pull a CUDA build of several GB.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

index: $(VENV)/.installed
	$(BIN)/python -m bot build --if-stale

# The content team's loop: check the knowledge files, build the index, make the running server serve it.
# The first run on a fresh clone installs everything (a few minutes). SERVER is the server to release to.
SERVER ?= http://$(HOST):$(PORT)
check: $(VENV)/.installed
	@$(BIN)/python -m bot check

build: $(VENV)/.installed
	@$(BIN)/python -m bot build

release: $(VENV)/.installed
	@$(BIN)/python -m bot reload --server $(SERVER)

# A web page, Word file, PDF, text or FAQ sheet as a draft knowledge file: make import FILE=leaflet.pdf [OUT=folder]
import: $(VENV)/.installed
	@test -n "$(FILE)" || { echo "usage: make import FILE=path/to/page.html [OUT=folder]" >&2; exit 2; }
	@$(BIN)/python -m bot import "$(FILE)" $(if $(OUT),--out "$(OUT)")

run: index
	$(BIN)/python -m bot serve --host $(HOST) --port $(PORT)

lint: $(VENV)/.installed
	$(BIN)/ruff check bot tests
	$(BIN)/ruff format --check bot tests
	$(BIN)/mypy

test: $(VENV)/.installed lint
	$(BIN)/python -m pytest

# The quality figures: the project's own evaluation sets, and the real third-party development data
# beside the project (../shared/eval/external/dev), one row a file and a total.
EXTERNAL_EVAL ?= ../shared/eval/external/dev
eval: index
	$(BIN)/python -m bot eval tests/data/eval

eval-external: index
	@test -d $(EXTERNAL_EVAL) || { echo "no evaluation data at $(EXTERNAL_EVAL)"; exit 1; }
	$(BIN)/python -m bot eval $(EXTERNAL_EVAL) tests/data/eval

# Refit the scope model (knowledge/scope-calibration.yaml) on the project's sets and, when it is there,
# the external development data; review the file's figures before committing it.
calibrate: $(VENV)/.installed
	$(BIN)/python -m bot calibrate tests/data/eval $(wildcard $(EXTERNAL_EVAL))

# Two minutes of 16 clients against a real server on loopback, with a rebuild and reload half-way.
soak: index
	$(BIN)/python -m bot.ops.soak --duration 120 --clients 16

# The performance benchmark: the real server on loopback, against a plain per-request path.
bench: index
	$(BIN)/python -m bot bench --compare-naive

# The fuzz targets for longer than `make test` runs them.
fuzz: $(VENV)/.installed
	FUZZ_EXAMPLES=5000 $(BIN)/python -m pytest tests/test_fuzz.py -q

clean:
	rm -rf $(VENV) index/*.faiss index/*.json data
