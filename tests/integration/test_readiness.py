"""Readiness: a production process with no schema, an old schema or no signing key answers /readyz with 503 and
says why in its log, at start-up and whenever the reasons change; with everything in place it answers 200.

Each test has a database of its own: a SQLite file, or a fresh schema when DATABASE_URL is PostgreSQL.
"""

from __future__ import annotations

import logging
import os

import pytest
from alembic.script import ScriptDirectory
from flask_migrate import upgrade

from config.settings import PROJECT_ROOT
from lti_tool import create_app
from lti_tool.extensions import db
from tests import conftest

LOGGER = "lti_tool"


@pytest.fixture
def start_production(tmp_path_factory, empty_database_url):
    """Start (or start again) the web app with production settings on that database; its keys folder starts empty."""
    apps = []
    overrides = conftest.test_overrides(tmp_path_factory)
    overrides.update(SQLALCHEMY_DATABASE_URI=empty_database_url, BASE_URL="https://mcb.example.edu")

    def start():
        application = create_app("production", dict(overrides))
        apps.append(application)
        return application

    yield start
    for application in apps:
        with application.app_context():
            db.session.remove()
            db.engine.dispose()


def _migrate(app, revision: str = "head") -> None:
    with app.app_context():
        upgrade(revision=revision)


def _ensure_key(app) -> None:
    with app.app_context():
        from lti_tool.core.keys import key_store

        key_store().ensure()


class LogLines(logging.Handler):
    """The app's log lines, kept on its own logger (Alembic's upgrade reconfigures the root logger's handlers)."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def clear(self) -> None:
        self.lines.clear()


@pytest.fixture
def log():
    logger = logging.getLogger(LOGGER)
    handler, level = LogLines(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def _not_ready_lines(log: LogLines) -> list[str]:
    return [line for line in log.lines if "not ready" in line]


def _revision_before_head() -> tuple[str, str]:
    script = ScriptDirectory(str(PROJECT_ROOT / "migrations"))
    head = script.get_revision(script.get_current_head())
    return head.revision, head.down_revision


def test_an_empty_database_without_keys_is_not_ready_and_the_log_says_why(start_production, log):
    app = start_production()

    started = _not_ready_lines(log)
    assert len(started) == 1, log.text
    assert "the database has no schema: run `flask --app wsgi db upgrade`" in started[0]
    assert "there is no signing key: run `flask --app wsgi keys ensure`" in started[0]

    client = app.test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["status"] == "not ready"
    assert response.json["problems"] == [
        "the database has no schema: run `flask --app wsgi db upgrade`",
        "there is no signing key: run `flask --app wsgi keys ensure`",
    ]
    assert client.get("/readyz").status_code == 503
    assert len(_not_ready_lines(log)) == 1, "the same reasons are logged once, not at every probe"

    _migrate(app)
    assert client.get("/readyz").json["problems"] == ["there is no signing key: run `flask --app wsgi keys ensure`"]
    assert len(_not_ready_lines(log)) == 2, "a change of reasons is logged"

    _ensure_key(app)
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json == {"status": "ok"}
    assert "ready to serve launches again" in log.text


def test_a_schema_one_revision_behind_is_not_ready(start_production, log):
    head, previous = _revision_before_head()
    app = start_production()
    _migrate(app, previous)
    _ensure_key(app)
    log.clear()

    restarted = start_production()  # the process starts against the old schema
    assert any(f"at revision {previous}, this code needs {head}" in line for line in _not_ready_lines(log))
    response = restarted.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["problems"] == [
        f"the database schema is at revision {previous}, this code needs {head}: run `flask --app wsgi db upgrade`"
    ]


def test_no_signing_key_is_not_ready(start_production):
    app = start_production()
    _migrate(app)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["problems"] == ["there is no signing key: run `flask --app wsgi keys ensure`"]
    assert app.test_client().get("/lti/jwks").json == {"keys": []}  # what a launch would have met


def test_a_damaged_signing_key_is_not_ready(start_production):
    app = start_production()
    _migrate(app)
    _ensure_key(app)
    keys_dir = app.config["LTI_KEYS_DIR"]
    for name in os.listdir(keys_dir):
        if name.endswith(".pem"):
            with open(os.path.join(keys_dir, name), "w") as handle:
                handle.write("not a key")
    from lti_tool.core import keys

    keys._load_key.cache_clear()  # a key file is read once per process; a restart reads the damaged one
    response = start_production().test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["problems"] == ["the signing key cannot be read: run `flask --app wsgi keys ensure`"]


def test_a_database_at_head_with_a_key_is_ready(start_production, log):
    first = start_production()
    _migrate(first)
    _ensure_key(first)
    log.clear()

    app = start_production()
    assert "ready to serve launches" in log.text
    response = app.test_client().get("/readyz")
    assert response.status_code == 200 and response.json == {"status": "ok"}
    assert _not_ready_lines(log) == []
