"""Absolute URLs of the tool, for the LMS and for anything sent outside a page."""

from __future__ import annotations

from flask import current_app, has_request_context, url_for


def external_url(endpoint: str, **values) -> str:
    """An absolute URL of the tool: from BASE_URL behind a proxy (also outside a request, in the worker), else
    from the request. RuntimeError outside a request without BASE_URL: there is no origin to give."""
    base = current_app.config.get("BASE_URL")
    if base:
        if has_request_context():
            path = url_for(endpoint, **values)
        else:
            path = current_app.url_map.bind("localhost").build(endpoint, values)
        return base.rstrip("/") + path
    return url_for(endpoint, _external=True, **values)


def site_url(path: str) -> str:
    """The absolute URL of a path on this site (`/static/…`), by the same rule as `external_url`."""
    from flask import request

    base = current_app.config.get("BASE_URL") or (request.host_url if has_request_context() else None)
    if not base:
        raise RuntimeError("No origin for an absolute URL outside a request: set BASE_URL")
    return base.rstrip("/") + "/" + path.lstrip("/")
