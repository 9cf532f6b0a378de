"""What ties a launch reference to the browser that launched: a partitioned browser cookie, and the request's origin.

- Where the launch's OIDC state came back in its cookie, this browser keeps partitioned cookies in the LMS's
  iframe. The launch then gives it `lti_browser=<random id>` (CHIPS: `SameSite=None; Secure; HttpOnly;
  Partitioned`) and the launch reference names a hash of that id: a copied link is of no use in another browser.
- A request that changes something must come from the tool's own pages. Browsers say where a request comes
  from themselves (`Sec-Fetch-Site`, `Origin`); another site cannot forge either.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

from flask import Flask, current_app, g, request

from lti_tool.core.urls import external_url
from lti_tool.lti.models import origin_of

BROWSER_COOKIE = "lti_browser"
_BROWSER_ID = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def browser_hash(browser_id: str) -> str:
    """What a launch reference carries of the browser id: a hash, so the URL never shows the cookie's value."""
    digest = hashlib.sha256(browser_id.encode()).digest()
    return base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")


def bind_this_browser() -> str:
    """The hash of this browser's id; the launch response (re)sets its cookie (see `init_app`).

    The id the browser already has is kept, so two activities open in the same LMS keep working side by side.
    """
    browser_id = request.cookies.get(BROWSER_COOKIE, "")
    if not _BROWSER_ID.match(browser_id):
        browser_id = secrets.token_urlsafe(32)
    g.lti_browser_id = browser_id
    return browser_hash(browser_id)


def is_this_browser(bound_hash: str) -> bool:
    """Does this request carry the browser cookie a bound launch reference names?"""
    browser_id = request.cookies.get(BROWSER_COOKIE, "")
    return bool(_BROWSER_ID.match(browser_id)) and hmac.compare_digest(browser_hash(browser_id), bound_hash)


def is_same_origin_request(*, without_browser_headers: bool = True) -> bool:
    """Was this request sent by one of the tool's own pages (or, unless `without_browser_headers` is False, by a
    client that is no browser)?

    `Sec-Fetch-Site` decides where the browser sends it. The pages are served with `Referrer-Policy: no-referrer`,
    under which browsers send `Origin: null` even from our own forms — and `null` is nobody's origin, so it is
    refused. A request with neither header comes from no browser (a script, a test), which no page can make send.
    """
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site:
        return fetch_site == "same-origin"
    origin = request.headers.get("Origin")
    if origin is None:
        return without_browser_headers
    return origin == origin_of(external_url("lti.launch"))


def is_state_changing() -> bool:
    return request.method not in SAFE_METHODS


def init_app(app: Flask) -> None:
    @app.after_request
    def set_browser_cookie(response):
        browser_id = g.pop("lti_browser_id", None)
        if browser_id:
            response.set_cookie(
                BROWSER_COOKIE,
                browser_id,
                max_age=current_app.config["LTI_SESSION_MAX_AGE"],
                path="/",
                secure=True,
                httponly=True,
                samesite="None",
                partitioned=True,
            )
        return response
