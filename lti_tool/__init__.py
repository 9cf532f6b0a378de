"""Micro-Credential Bridge: an LTI 1.3 tool for portfolio-based educator micro-credentials."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from config import config_for, settings_from_environment
from config.settings import PROJECT_ROOT
from lti_tool.core.models import render_migration_type
from lti_tool.extensions import cache, db, migrate


def create_app(config: str | type | None = None, overrides: dict | None = None) -> Flask:
    """Build the application: settings class, then environment, then explicit overrides."""
    overrides = dict(overrides or {})
    app = Flask(
        __name__,
        instance_path=overrides.pop("INSTANCE_PATH", None)
        or os.environ.get("INSTANCE_PATH")
        or str(PROJECT_ROOT / "instance"),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    settings_class = config if isinstance(config, type) else config_for(config or os.environ.get("APP_ENV"))
    app.config.from_object(settings_class)
    app.config.update(settings_from_environment())
    app.config.update(overrides)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    _configure_secret_key(app)
    _require_base_url_in_production(app)
    _configure_database(app)
    _configure_cache(app)
    _trust_proxies(app)

    db.init_app(app)
    _configure_sqlite_connections(app)
    migrate.init_app(
        app,
        db,
        directory=str(PROJECT_ROOT / "migrations"),
        render_as_batch=True,
        compare_type=True,
        render_item=render_migration_type,
    )
    cache.init_app(app)

    from lti_tool import models  # noqa: F401  every model registered on the metadata
    from lti_tool.core import assets, dates, errors, http, logs, responses, storage, transactions
    from lti_tool.lti import launch_context

    logs.init_app(app)  # before anything logs: no credential in a log line
    dates.init_app(app)
    storage.init_app(app)
    errors.init_app(app)
    transactions.init_app(app)
    responses.init_app(app)
    http.init_app(app)
    launch_context.init_app(app)
    assets.init_app(app)

    from lti_tool.core import ids

    ids.init_app(app)  # before any route: `<int:…>` ids stay within 64 bits (404 beyond)
    _register_blueprints(app)

    from lti_tool import cli

    cli.init_app(app)

    if app.config["OUTBOX_RUN_IN_THREAD"] and not app.testing:
        from lti_tool.gradebook import worker

        worker.start_thread_with_first_request(app)

    from lti_tool.core import readiness

    readiness.init_app(app)  # last: a web process logs at start-up why it cannot serve launches yet
    return app


def _register_blueprints(app: Flask) -> None:
    from lti_tool.admin.badge_views import bp as admin_badges_bp
    from lti_tool.admin.catalog_views import bp as admin_catalog_bp
    from lti_tool.admin.issuer_views import bp as admin_issuers_bp
    from lti_tool.admin.report_views import bp as reports_bp
    from lti_tool.admin.views import bp as admin_bp
    from lti_tool.badges.panel_views import bp as badge_panel_bp
    from lti_tool.badges.public_views import bp as badges_bp
    from lti_tool.catalog.views import bp as catalog_bp
    from lti_tool.core.views import bp as core_bp
    from lti_tool.front.views import bp as front_bp
    from lti_tool.lti.registration_views import bp as registration_bp
    from lti_tool.lti.views import bp as lti_bp
    from lti_tool.submissions.artifact_views import bp as artifacts_bp
    from lti_tool.submissions.artifact_views import files_bp
    from lti_tool.submissions.instructor_views import bp as progress_bp
    from lti_tool.submissions.views import bp as submissions_bp

    app.register_blueprint(core_bp)
    app.register_blueprint(front_bp)
    app.register_blueprint(lti_bp)
    app.register_blueprint(registration_bp)
    app.register_blueprint(catalog_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(admin_catalog_bp)
    app.register_blueprint(admin_badges_bp)
    app.register_blueprint(admin_issuers_bp)
    app.register_blueprint(reports_bp)
    from lti_tool import gradebook

    gradebook.init_app(app)  # the outbox page, and the launch listener that fills a new placement's column
    app.register_blueprint(submissions_bp)
    app.register_blueprint(artifacts_bp)
    app.register_blueprint(files_bp)
    app.register_blueprint(progress_bp)
    app.register_blueprint(badges_bp)
    app.register_blueprint(badge_panel_bp)
    from lti_tool.assessment import views as assessment_views

    assessment_views.init_app(app)
    if app.config["DEMO_ENABLED"]:
        from lti_tool.demo.views import bp as demo_bp

        app.register_blueprint(demo_bp)


def _configure_secret_key(app: Flask) -> None:
    """Production must be given SECRET_KEY; elsewhere one is generated once into the instance folder."""
    if app.config.get("SECRET_KEY"):
        return
    if app.config["ENV_NAME"] == "production":
        raise RuntimeError("SECRET_KEY must be set in the environment in production")
    key_file = Path(app.instance_path) / "secret_key"
    if not key_file.exists():
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    app.config["SECRET_KEY"] = key_file.read_text().strip()


def _require_base_url_in_production(app: Flask) -> None:
    """Badges name their permanent addresses (ids, keys, status lists) with BASE_URL: taken from each request's
    Host instead, one badge would carry whatever host its release happened to use."""
    if app.config["ENV_NAME"] == "production" and not app.config.get("BASE_URL"):
        raise RuntimeError("BASE_URL must be set in production (the public https:// origin of the tool): "
                           "issued badges carry addresses made from it for good")


def _trust_proxies(app: Flask) -> None:
    """Read the client's address and scheme from the X-Forwarded-For/-Proto of exactly TRUSTED_PROXY_COUNT proxies.

    X-Forwarded-Host and -Port are never read: every absolute URL the tool gives out (its LTI configuration, JWKS,
    Dynamic Registration, badges) comes from BASE_URL, or in development from the Host the browser sent, never
    from a header any client can add."""
    hops = app.config["TRUSTED_PROXY_COUNT"]
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=0, x_port=0, x_prefix=0)


def _configure_database(app: Flask) -> None:
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + str(Path(app.instance_path) / "microcredentials.sqlite")
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("sqlite"):
        # SQLite: wait for a writer instead of failing at once; threads share the file.
        options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
        options.setdefault("connect_args", {"timeout": 30, "check_same_thread": False})
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options


def _configure_sqlite_connections(app: Flask) -> None:
    """SQLite: enforce foreign keys (cascades, as on PostgreSQL); WAL so readers never wait for the writer."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return
    from sqlalchemy import event

    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable at every checkpoint; safe with WAL
        cursor.close()


def _configure_cache(app: Flask) -> None:
    """Launch data, OIDC state and platform keys: Redis when REDIS_URL is set, else a filesystem cache."""
    if app.config.get("REDIS_URL"):
        app.config.setdefault("CACHE_TYPE", "RedisCache")
        app.config["CACHE_TYPE"] = "RedisCache"
        app.config["CACHE_REDIS_URL"] = app.config["REDIS_URL"]
        app.config.setdefault("CACHE_KEY_PREFIX", "mcb:")
    else:
        app.config["CACHE_TYPE"] = "FileSystemCache"
        app.config["CACHE_DIR"] = app.config.get("CACHE_DIR") or str(Path(app.instance_path) / "cache")
        # No item count: counting rewrites a file on every set. Expired items are swept by the worker.
        app.config.setdefault("CACHE_THRESHOLD", 0)
