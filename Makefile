# Two commands for a newcomer: `make run` and `make test`. Each builds .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint format bench clean a11y-deps messages

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/leaderbot run

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# What tests/test_accessibility.py needs besides .venv: Debian's chromium and chromedriver (apt,
# as root; no browser download) and axe-core, pinned in tests/a11y/package-lock.json (npm ci).
# Without them that test skips locally; .ci/run installs them, so in CI it always runs.
AXE := tests/a11y/node_modules/axe-core/axe.min.js

a11y-deps: $(AXE)
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver; }

$(AXE): tests/a11y/package-lock.json
	@command -v npm >/dev/null || { \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y npm; }
	cd tests/a11y && npm ci --no-audit --no-fund
	touch $(AXE)

bench: $(STAMP)
	$(BIN)/python -m bench.fanout

# Re-extract every msgid into the template, then merge it into the Welsh catalogue (new
# msgids arrive untranslated: the tests fail until they are translated). docs/translations.md
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg --no-location --sort-output --omit-header \
		-o bot/data/locale/leaderbot.pot .
	$(BIN)/pybabel update -i bot/data/locale/leaderbot.pot -d bot/data/locale -D leaderbot \
		-l cy --no-fuzzy-matching

clean:
	rm -rf $(VENV) .pytest_cache
