# descent — the two commands of the quick start, and the rest.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LINT_STAMP := $(VENV)/.installed-dev
LINTED := engine api worker cli descent tests bench docs/make_tour.py

.PHONY: serve test install bench tour goldens lint clean browser

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

## the dev extra (ruff, mypy) on top of the test extra, for `make lint`
$(LINT_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(LINT_STAMP)

install: $(STAMP)

## make serve: the whole stack (embedded Redis, Celery workers, API) on http://127.0.0.1:8000
serve: $(STAMP)
	$(BIN)/descent serve

## make test: every test, browser and end-to-end included
test: $(STAMP) browser
	$(BIN)/python -m pytest -q

## Chromium for the browser tests (Debian's package; installed once, needs root or sudo)
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$(command -v sudo >/dev/null && [ "$$(id -u)" != 0 ] && echo sudo); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; } \
	  || echo "chromium could not be installed: the browser tests will be skipped"

bench: $(STAMP)
	$(BIN)/python -m bench

tour: $(STAMP)
	$(BIN)/pip install --quiet -e '.[plot]'
	$(BIN)/python -m docs.make_tour

## regenerate the torch golden trajectories (needs torch: pip install torch)
goldens: $(STAMP)
	$(BIN)/python tests/golden/make_goldens.py

## make lint: ruff and mypy over the whole tree, zero errors (CI runs it before the tests)
lint: $(LINT_STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/mypy $(LINTED)

clean:
	rm -rf $(VENV) .pytest_cache
