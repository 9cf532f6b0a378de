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

.PHONY: run test lint bench hosts loadtest install setup migration clean

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

# Two web servers and two outbox workers on one PostgreSQL, one Redis and one S3 endpoint (moto, started by the test):
#   DATABASE_URL=postgresql://mcb:mcb@127.0.0.1:5432/mcb REDIS_URL=redis://127.0.0.1:6379/0 make hosts
hosts: install  ## several hosts: a launch, a file, a key rotation and the outbox across two web servers and two workers
	@case "$(DATABASE_URL)" in postgres://*|postgresql*) ;; *) echo 'make hosts needs PostgreSQL and Redis, shared by every host:'; \
	  echo '  DATABASE_URL=postgresql://USER:PASSWORD@HOST:5432/DB REDIS_URL=redis://HOST:6379/0 make hosts'; exit 2;; esac
	@test -n "$(REDIS_URL)" || { echo 'make hosts needs REDIS_URL too, e.g. REDIS_URL=redis://127.0.0.1:6379/0'; exit 2; }
	REQUIRE_S3=1 $(BIN)/python -m pytest tests/hosts/test_several_hosts.py -q

# Needs DATABASE_URL (PostgreSQL: a schema of its own, dropped afterwards) and REDIS_URL, e.g.
#   DATABASE_URL=postgresql://mcb:mcb@127.0.0.1:5432/mcb REDIS_URL=redis://127.0.0.1:6379/0 make loadtest
loadtest: install  ## 200 educators + 5 instructors under Locust on 2 web servers, then 1 (ARGS="--quick": 30 s each)
	$(BIN)/python -m loadtest $(ARGS)

migration: install  ## a new Alembic revision from the models' changes: make migration MESSAGE="what changed"
	@test -n "$(MESSAGE)" || { echo 'say what changed: make migration MESSAGE="..."'; exit 2; }
	tmp=$$(mktemp -d) && export INSTANCE_PATH=$$tmp APP_ENV=testing LTI_KEYS_DIR=$$tmp/keys && \
	  $(FLASK) db upgrade && $(FLASK) db migrate -m "$(MESSAGE)"; status=$$?; rm -rf $$tmp; exit $$status

clean:
	rm -rf $(VENV) .venv-ob2 instance .pytest_cache .ruff_cache node_modules
