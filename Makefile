# Two commands: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

# Reinstall only when pyproject.toml changes; pip keeps the built llama-cpp-python wheel in its cache.
$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[test]'
	touch $@

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e .
	touch $@

# The arena on http://127.0.0.1:8000 with SQLite (./glassboard.db) and the two bundled variants.
demo: $(VENV)/.installed
	$(BIN)/glassboard serve

# System parts (Chromium, PostgreSQL, Redis) first: scripts/setup-system.sh installs or starts what it can and says
# what it cannot; tests needing a missing part are skipped (failed with GLASSBOARD_REQUIRE_ALL=1, as .ci/run sets).
test: $(VENV)/.installed-test
	./scripts/setup-system.sh
	$(BIN)/ruff check .
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest -q

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/python -m mypy

clean:
	rm -rf $(VENV) .pytest_cache
