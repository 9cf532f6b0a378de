"""One `requests` session per process for every call to an LMS, with timeouts."""

from __future__ import annotations

import threading

import requests
from flask import Flask, current_app
from requests.adapters import HTTPAdapter

USER_AGENT = "MicroCredentialBridge/1.0 (+LTI 1.3 tool)"

_lock = threading.Lock()


class TimeoutSession(requests.Session):
    """A Session whose every request has a (connect, read) timeout unless one is given."""

    def __init__(self, timeout):
        super().__init__()
        self.default_timeout = timeout
        self.headers["User-Agent"] = USER_AGENT
        adapter = HTTPAdapter(pool_connections=20, pool_maxsize=20)
        self.mount("https://", adapter)
        self.mount("http://", adapter)

    def request(self, method, url, **kwargs):
        kwargs.setdefault("timeout", self.default_timeout)
        return super().request(method, url, **kwargs)


def lms_session() -> TimeoutSession:
    """The process-wide HTTP session for calls to platforms (JWKS, tokens, AGS, NRPS)."""
    app = current_app._get_current_object()
    session = app.extensions.get("lms_http")
    if session is None:
        with _lock:
            session = app.extensions.get("lms_http")
            if session is None:
                session = TimeoutSession(tuple(app.config["LTI_HTTP_TIMEOUT"]))
                app.extensions["lms_http"] = session
    return session


def init_app(app: Flask) -> None:
    app.extensions.setdefault("lms_http", None)
