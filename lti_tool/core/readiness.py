"""Is this process ready to serve launches? The database and cache answer, the schema is at the code's head
revision, a signing key loads, and the bucket files go to answers (with STORAGE_BACKEND=s3).

A web process that started against an empty database, one left a revision behind, or an empty keys folder would
otherwise answer `/readyz` with 200 and fail on the first launch with a 500. `/readyz` answers 503 with the
reasons instead, and the process logs them: once at start-up, then each time they change.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache

import click
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from config.settings import PROJECT_ROOT
from lti_tool.extensions import cache, db

MIGRATIONS = PROJECT_ROOT / "migrations"
UPGRADE_HINT = "run `flask --app wsgi db upgrade`"
KEYS_HINT = "run `flask --app wsgi keys ensure`"


@dataclass(frozen=True)
class Problem:
    """Why the process is not ready: `reason` is what /readyz answers; `detail` adds what only the log shows."""

    reason: str
    detail: str = ""

    @property
    def logged(self) -> str:
        return f"{self.reason} ({self.detail})" if self.detail else self.reason


@lru_cache(maxsize=1)
def code_heads() -> frozenset[str]:
    """The head revision(s) of migrations/: what the models of this code expect (read once per process)."""
    return frozenset(ScriptDirectory(str(MIGRATIONS)).get_heads())


def database_heads() -> frozenset[str]:
    """The revision(s) recorded in the database's `alembic_version` (none for an empty database)."""
    with db.engine.connect() as connection:
        return frozenset(MigrationContext.configure(connection).get_current_heads())


def schema_problem() -> Problem | None:
    try:
        current = database_heads()
    except SQLAlchemyError as error:
        return Problem("the database does not answer", type(error).__name__)
    expected = code_heads()
    if current == expected:
        return None
    if not current:
        return Problem(f"the database has no schema: {UPGRADE_HINT}")
    return Problem(f"the database schema is at revision {', '.join(sorted(current))}, this code needs "
                   f"{', '.join(sorted(expected))}: {UPGRADE_HINT}")


def signing_key_problem() -> Problem | None:
    from lti_tool.core.keys import KeyStoreError, key_store

    store = key_store()
    try:
        store.signing_key()
    except KeyStoreError:
        return Problem(f"there is no signing key: {KEYS_HINT}", f"none in {store.directory}")
    except (OSError, ValueError, KeyError, TypeError) as error:  # a manifest or PEM file unreadable or damaged
        return Problem(f"the signing key cannot be read: {KEYS_HINT}", f"in {store.directory}: {error}")
    return None


def cache_problem() -> Problem | None:
    try:
        cache.set("readyz", "1", timeout=10)
        answered = cache.get("readyz") == "1"
    except Exception as error:  # noqa: BLE001  any backend's failure means the same: launches cannot be kept
        return Problem("the cache does not answer", type(error).__name__)
    return None if answered else Problem("the cache does not answer")


def storage_problem() -> Problem | None:
    from lti_tool.core.storage import StorageUnavailable, storage

    store = storage()
    if store.name != "s3":
        return None  # local disk: the folder was made when the app started
    try:
        store.check_reachable()
    except StorageUnavailable as error:
        return Problem("the S3 bucket for files does not answer", f"bucket {store.bucket}: {error.__cause__}")
    return None


def problems() -> list[Problem]:
    """Everything that stops this process from serving launches; empty when it is ready. In an app context."""
    found = [schema_problem(), signing_key_problem(), cache_problem(), storage_problem()]
    return [problem for problem in found if problem is not None]


# -- telling the operator ---------------------------------------------------------------------------------------
_log_lock = threading.Lock()


def report(app: Flask, found: list[Problem]) -> None:
    """Log the readiness when it differs from what this process last logged (never the same lines twice in a row)."""
    state = tuple(problem.logged for problem in found)
    with _log_lock:
        if app.extensions.get("readiness_logged") == state:
            return
        first = "readiness_logged" not in app.extensions
        app.extensions["readiness_logged"] = state
    if found:
        app.logger.warning("not ready to serve launches (/readyz answers 503): %s", "; ".join(state))
    elif not first:
        app.logger.warning("ready to serve launches again")
    else:
        app.logger.info("ready to serve launches")


def _is_a_command_other_than_serving() -> bool:
    """`flask db upgrade`, `flask worker`…: no web process (`flask run` is one; gunicorn has no click context)."""
    context = click.get_current_context(silent=True)
    return context is not None and context.info_name != "run"


def init_app(app: Flask) -> None:
    """A web process says at start-up whether it can serve launches, and why not."""
    if app.testing or _is_a_command_other_than_serving():
        return  # the test suite builds its schema after the app; commands such as `db upgrade` fix what is missing
    with app.app_context():
        report(app, problems())
        db.engine.dispose()  # gunicorn --preload forks after this: no worker inherits the check's connection
