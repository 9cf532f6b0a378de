# Micro-Credential Bridge — the two set-up commands are `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
# axe-core, injected by the browser tests into every page (package.json pins it; only the tests need Node).
AXE := node_modules/axe-core/axe.min.js
HOST ?= 127.0.0.1
PORT ?= 5000
# Where a browser on this machine reaches `make run`: the demo LMS registers there (BASE_URL when it is set).
DEMO_ORIGIN ?= $(or $(BASE_URL),http://$(if $(filter 0.0.0.0,$(HOST)),127.0.0.1,$(HOST)):$(PORT))
# The app itself defaults to production when APP_ENV is unset; make's commands are for development.
export APP_ENV ?= development

.PHONY: run test lint bench install setup migration clean

$(BIN)/activate: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(BIN)/activate

$(AXE): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $(AXE)

install: $(BIN)/activate

setup: install
	$(FLASK) db upgrade
	$(FLASK) keys ensure
	$(FLASK) catalog load --if-empty
	$(FLASK) demo setup --base-url $(DEMO_ORIGIN)

run: setup  ## fresh machine -> virtualenv, install, migrate, keys, sample catalog, serve
	$(FLASK) run --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check .

test: install $(AXE) lint  ## the whole suite, lint included
	$(BIN)/python -m pytest

bench: install  ## launches/s and p50/p95 against gunicorn on loopback
	$(BIN)/python -m bench

migration: install  ## a new Alembic revision from the models' changes: make migration MESSAGE="what changed"
	@test -n "$(MESSAGE)" || { echo 'say what changed: make migration MESSAGE="..."'; exit 2; }
	tmp=$$(mktemp -d) && export INSTANCE_PATH=$$tmp APP_ENV=testing LTI_KEYS_DIR=$$tmp/keys && \
	  $(FLASK) db upgrade && $(FLASK) db migrate -m "$(MESSAGE)"; status=$$?; rm -rf $$tmp; exit $$status

clean:
	rm -rf $(VENV) .venv-ob2 instance .pytest_cache .ruff_cache node_modules
