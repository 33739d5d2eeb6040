# Two commands for a fresh machine: `make run` serves the bot, `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
HOST ?= 127.0.0.1
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: run test lint index soak bench fuzz clean

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

run: index
	$(BIN)/python -m bot serve --host $(HOST) --port $(PORT)

lint: $(VENV)/.installed
	$(BIN)/ruff check bot tests
	$(BIN)/ruff format --check bot tests
	$(BIN)/mypy

test: $(VENV)/.installed lint
	$(BIN)/python -m pytest

# Two minutes of 16 clients against a real server on loopback, with a rebuild and reload half-way.
soak: index
	$(BIN)/python -m bot.soak --duration 120 --clients 16

# The performance benchmark: the real server on loopback, against a plain per-request path.
bench: index
	$(BIN)/python -m bot bench --compare-naive

# The fuzz targets for longer than `make test` runs them.
fuzz: $(VENV)/.installed
	FUZZ_EXAMPLES=5000 $(BIN)/python -m pytest tests/test_fuzz.py -q

clean:
	rm -rf $(VENV) index/*.faiss index/*.json data
