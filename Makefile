# `make run` serves the example plugins on the embedded store; `make test` runs every Python
# test; `make test-js` the JavaScript client's and the browser tests (clients/js/README.md).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Two stamps: `make run` installs only what serving needs; test, check, bench and docs add
# the development tools (pytest, ruff, mypy, ...), which take a while longer.
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: install run test test-js check bench docs

$(BIN)/python:
	@echo "Creating $(VENV) ..."
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	@echo "Installing Tessera and what it needs to run into $(VENV) (once) ..."
	$(BIN)/pip install --progress-bar on -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	@echo "Installing Tessera with the development tools into $(VENV) (once; longer) ..."
	$(BIN)/pip install --progress-bar on -e '.[dev]'
	touch $@ $(RUN_STAMP)

install: $(DEV_STAMP)
	@echo "Installed in $(VENV). Activate it to type tessera (. $(VENV)/bin/activate), or run $(BIN)/tessera."

run: $(RUN_STAMP)
	$(BIN)/tessera serve --plugins examples/plugins --data .tessera-data

test: $(DEV_STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

# Needs Node 20+ and Chromium at /usr/bin/chromium (.ci/run installs both); a real
# `tessera serve` from $(VENV) answers the tests. Screenshots land in clients/js/artifacts/.
JS := clients/js
test-js: $(RUN_STAMP) $(JS)/node_modules/.package-lock.json
	cd $(JS) && npm test && npm run test:browser

$(JS)/node_modules/.package-lock.json: $(JS)/package-lock.json
	cd $(JS) && npm ci --no-audit --no-fund

check: $(DEV_STAMP)
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

bench: $(DEV_STAMP)
	$(BIN)/python bench/store.py

docs: $(DEV_STAMP)
	$(BIN)/python scripts/update_docs.py
