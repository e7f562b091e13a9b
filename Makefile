# All set-up happens here, on a fresh machine: a venv in .venv, packages from PyPI, Debian packages
# (chromium for browser tests, postgresql for store tests) when missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | md5sum | cut -c1-8)
WORKSPACE ?= demo-workspace
PYTEST_ARGS ?=

.PHONY: setup system demo test lint bench docs lock clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[spark,postgres]' --group dev
	rm -f $(VENV)/.installed-*
	touch $@

# Debian packages the tests need; installed only when missing (CI and fresh machines run as root).
system:
	@bash scripts/system-packages.sh

demo: setup
	$(BIN)/covalue demo -w $(WORKSPACE) --serve

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

test: setup system lint
	bash scripts/with-postgres.sh $(BIN)/pytest -q -n 2 $(PYTEST_ARGS)

# make bench BENCH=analyze-1m runs one measurement (or a comma-separated list, or a name prefix);
# some, like analyze-100m, run only when named so
bench: setup system
	$(BIN)/python -m benchmarks.run $(if $(BENCH),--only $(BENCH))

# docs/cli.md and docs/settings.md are generated from the code
docs: setup
	$(BIN)/python scripts/cli_reference.py
	$(BIN)/python scripts/settings_reference.py

# requirements.lock: the exact versions of the app's own environment (no dev tools), as tested in .venv
lock: setup
	$(BIN)/python scripts/lock.py

clean:
	rm -rf $(VENV) $(WORKSPACE) .pytest_cache .ruff_cache
