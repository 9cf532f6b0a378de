"""Per-request counters for the benchmark only: SQL statements and cache calls, answered in response headers.

Installed into each gunicorn worker by bench/gunicorn_counting.py (never by the application): a SQLAlchemy
`before_cursor_execute` listener on every engine, and wrappers around the cache backends' methods (cachelib's
filesystem and Redis caches, which Flask-Caching and pylti1p3 use) and around the tool's single-use cache
operations (`lti_tool.core.single_use`, which talk to the backend directly). The WSGI wrapper resets the
counters when a request starts and adds `X-Bench-SQL`, `X-Bench-Cache-Writes` and `X-Bench-Cache-Reads`.
"""

from __future__ import annotations

import functools
import threading

SQL_HEADER = "X-Bench-SQL"
WRITES_HEADER = "X-Bench-Cache-Writes"
READS_HEADER = "X-Bench-Cache-Reads"
CACHE_WRITES = ("set", "add", "delete", "set_many", "delete_many", "clear", "inc", "dec")
CACHE_READS = ("get", "get_many", "has")

_counts = threading.local()


def _bump(name: str) -> None:
    setattr(_counts, name, getattr(_counts, name, 0) + 1)


def _counted(function, counter: str):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        if not getattr(_counts, "inside", False):  # a backend method calling another counts once
            _counts.inside = True
            try:
                _bump(counter)
                return function(*args, **kwargs)
            finally:
                _counts.inside = False
        return function(*args, **kwargs)

    return wrapper


def _wrap_class(cls) -> None:
    for names, counter in ((CACHE_WRITES, "writes"), (CACHE_READS, "reads")):
        for name in names:
            if name in vars(cls):
                setattr(cls, name, _counted(vars(cls)[name], counter))


def install(wsgi_app):
    """Count in this process from now on; returns `wsgi_app` wrapped to report the counts of each request."""
    from cachelib.file import FileSystemCache
    from cachelib.redis_base import BaseRedisCache
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    event.listen(Engine, "before_cursor_execute", lambda *args, **kwargs: _bump("sql"))
    for cls in (FileSystemCache, BaseRedisCache):
        _wrap_class(cls)
    try:
        from lti_tool.core import single_use
    except ImportError:  # the minimal tool's process may not have the tool on its path
        single_use = None
    if single_use is not None:
        single_use.claim_once = _counted(single_use.claim_once, "writes")
        single_use.take_once = _counted(single_use.take_once, "writes")  # a read and a delete: one write

    def counting_app(environ, start_response):
        _counts.sql = _counts.writes = _counts.reads = 0

        def start(status, headers, exc_info=None):
            headers = [*headers, (SQL_HEADER, str(_counts.sql)), (WRITES_HEADER, str(_counts.writes)),
                       (READS_HEADER, str(_counts.reads))]
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        return wsgi_app(environ, start)

    return counting_app
