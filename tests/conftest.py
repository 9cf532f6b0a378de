"""Shared fixtures: the app, its database and cache, and the tool served over real HTTP.

Set DATABASE_URL (PostgreSQL) and REDIS_URL to run the same suite on the production shape.
"""

from __future__ import annotations

import os
import threading
import uuid

import pytest
from werkzeug.serving import make_server

from lti_tool import create_app
from lti_tool.extensions import cache, db

pytest_plugins = ["tests.platform.fixtures"]


def test_overrides(tmp_path_factory) -> dict:
    """Settings for a test app: temporary instance, keys and cache; the database from the environment."""
    base = tmp_path_factory.mktemp("tool")
    overrides = {
        "INSTANCE_PATH": str(base / "instance"),
        "LTI_KEYS_DIR": str(base / "keys"),
        "CACHE_DIR": str(base / "cache"),
        "SECRET_KEY": "test-secret-key-not-for-production",
        "SQLALCHEMY_DATABASE_URI": os.environ.get("DATABASE_URL") or f"sqlite:///{base / 'test.sqlite'}",
    }
    if os.environ.get("REDIS_URL"):
        overrides["REDIS_URL"] = os.environ["REDIS_URL"]
    return overrides


def prepare_database(app) -> None:
    """Bring the schema up through the migrations, as production does."""
    from flask_migrate import upgrade

    with app.app_context():
        if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
            _drop_everything()  # a clean schema on a shared database, whatever revision it was left at
        upgrade()


def _drop_everything() -> None:
    from sqlalchemy import MetaData

    existing = MetaData()
    existing.reflect(bind=db.engine)
    with db.engine.begin() as connection:
        existing.drop_all(bind=connection)


def empty_database(app) -> None:
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as connection:
            for table in reversed(db.metadata.sorted_tables):
                connection.execute(table.delete())
        cache.clear()
    from lti_tool.lti.tool_conf import forget_registrations

    forget_registrations()  # what each process keeps of the registrations emptied too


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    from config.settings import normalise_database_url

    overrides = test_overrides(tmp_path_factory)
    overrides["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(overrides["SQLALCHEMY_DATABASE_URI"])
    application = create_app("testing", overrides)
    prepare_database(application)
    with application.app_context():
        from lti_tool.core.keys import key_store

        key_store().ensure()
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _clean_state(request):
    """Every test starts with empty tables and an empty cache (only when it used the app)."""
    yield
    if "app" in request.fixturenames:
        empty_database(request.getfixturevalue("app"))


@pytest.fixture
def empty_database_url(tmp_path):
    """The URL of an empty database of the test's own: a SQLite file, or a schema of its own on the PostgreSQL of
    DATABASE_URL (dropped afterwards). For tests that build a schema themselves (migrations, readiness)."""
    from cluster.schemas import own_schema

    environment_url = os.environ.get("DATABASE_URL") or ""
    if not environment_url.startswith(("postgres://", "postgresql")):
        yield f"sqlite:///{tmp_path / 'empty.sqlite'}"
        return
    with own_schema(environment_url, "empty") as url:
        yield url


@pytest.fixture
def app_context(app):
    with app.app_context():
        yield app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


class LiveServer:
    """A WSGI app served over real HTTP on loopback, in a thread."""

    def __init__(self, wsgi_app, host: str = "127.0.0.1"):
        self.server = make_server(host, 0, wsgi_app, threaded=True)
        self.url = f"http://{host}:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> LiveServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def live_tool(app):
    """The tool over real HTTP: `live_tool.url` is its origin."""
    server = LiveServer(app).start()
    app.config["BASE_URL"] = server.url
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """moto in server mode on loopback for the session; skipped when it cannot start, unless REQUIRE_S3=1."""
    from tests.s3_server import S3Server, started_or_skipped

    server = started_or_skipped(S3Server(log_path=tmp_path_factory.mktemp("s3") / "moto.log"))
    yield server
    server.stop()


@pytest.fixture
def s3_settings(s3_server):
    """The settings of a fresh, empty bucket of the session's S3 server (deleted after the test)."""
    from tests.s3_server import empty_bucket

    if s3_server.process is None:  # a test stopped it ("the bucket is down"); it comes back empty
        s3_server.start()
    bucket = f"test-{uuid.uuid4().hex[:16]}"
    client = s3_server.client()
    client.create_bucket(Bucket=bucket)
    yield s3_server.settings(bucket)
    if s3_server.process is None:
        s3_server.start()
    elif bucket in {b["Name"] for b in client.list_buckets()["Buckets"]}:
        empty_bucket(client, bucket)


@pytest.fixture
def s3_app(app, s3_settings):
    """The session's app keeping new files in a fresh bucket (STORAGE_BACKEND=s3), restored afterwards."""
    saved = {name: app.config.get(name) for name in s3_settings}
    app.config.update(s3_settings)
    app.extensions["storages"].pop("s3", None)  # built again, for this bucket
    yield app
    app.config.update(saved)
    app.extensions["storages"].pop("s3", None)


@pytest.fixture
def catalog(app):
    """The sample catalog of config/catalog.yaml, loaded as an admin loads it."""
    from lti_tool.catalog.services import load_catalog

    with app.app_context():
        load_catalog()
        db.session.commit()


def move_terms_around_today() -> None:
    """Every term of the catalog moved around today (enrollment open, deadline ahead); in an app context."""
    from datetime import timedelta

    from lti_tool.catalog.models import Term
    from lti_tool.core.models import utcnow

    now = utcnow()
    for term in db.session.scalars(db.select(Term)):
        term.enrollment_opens_at = now - timedelta(days=10)
        term.enrollment_closes_at = now + timedelta(days=30)
        term.recommended_submission_at = now + timedelta(days=40)
        term.final_deadline_at = now + timedelta(days=60)
    db.session.commit()


@pytest.fixture
def small_limits(app):
    """Upload limits of 1 MiB for documents and 2 MiB for media (so the largest body is 3 MiB), restored after."""
    mib = 1024 * 1024
    saved = {name: app.config[name] for name in ("UPLOAD_MAX_BYTES_OTHER", "UPLOAD_MAX_BYTES_VIDEO")}
    app.config.update(UPLOAD_MAX_BYTES_OTHER=mib, UPLOAD_MAX_BYTES_VIDEO=2 * mib)
    yield
    app.config.update(saved)


@pytest.fixture
def running_term(app, catalog):
    """The sample term moved around today, so tests do not age."""
    with app.app_context():
        move_terms_around_today()


FAR_ZONE = "Pacific/Auckland"  # UTC+13 in December, +12 in June: far from UTC and from the test machine


@pytest.fixture
def auckland_term(app, running_term):
    """Every term of the catalog runs in Pacific/Auckland, so a time shown in any other zone could not pass for it."""
    from lti_tool.catalog.models import Term

    with app.app_context():
        for term in db.session.scalars(db.select(Term)):
            term.time_zone = FAR_ZONE
        db.session.commit()


@pytest.fixture
def term_opened_long_ago(app, running_term):
    """The sample term opened 60 days ago (its deadline still ahead), so that work can be 40 days old."""
    from datetime import timedelta

    from lti_tool.catalog.models import Term
    from lti_tool.core.models import utcnow

    with app.app_context():
        for term in db.session.scalars(db.select(Term)):
            term.enrollment_opens_at = utcnow() - timedelta(days=60)
        db.session.commit()
