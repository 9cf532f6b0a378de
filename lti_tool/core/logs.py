"""Log lines without credentials: no query string, no token in a path.

Launch references, file links, OIDC parameters, invites and registration tokens travel in query strings, so a log
line names a request by its method and path only. The one kind of path that carries a secret — the email
confirmation link of mails sent before its token moved to the query string (`/my-badges/confirm/<token>`) — is
shortened too. `redact` is applied to the development server's request lines (Werkzeug), to the application's
own log lines, and by gunicorn's logger (deploy/gunicorn.conf.py).
"""

from __future__ import annotations

import logging
import re

from flask import Flask

REDACTED = "[redacted]"
# A query string: from a `?` that follows a path or URL, to the end of that URL (a space or a quote ends it).
_QUERY = re.compile(r"(?<=[\w/.%~-])\?[^\s\"'<>]+")
# Paths whose last segment is a bearer token.
_SECRET_PATHS = re.compile(r"(/my-badges/confirm/)[^/?\s\"'<>]+")


def redact(text: str) -> str:
    """`text` with every URL's query string removed and every token in a path replaced."""
    return _QUERY.sub("", _SECRET_PATHS.sub(r"\1" + REDACTED, text))


class RedactingFilter(logging.Filter):
    """A logging filter that writes the redacted message into the record (it never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001  a malformed record is logged as it is, by the handler's own rules
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def add_redaction(logger: logging.Logger) -> None:
    """Redact every record logged through `logger` itself (once, however many apps are created)."""
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())


def init_app(app: Flask) -> None:
    # The development server (`make run`) logs each request line, query string included, on the `werkzeug` logger.
    add_redaction(logging.getLogger("werkzeug"))
    add_redaction(app.logger)
