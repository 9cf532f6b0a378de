"""Platform public keys: the JWKS is cached and fetched again only when an unknown `kid` arrives.

pylti1p3 fetches a platform's JWKS on every launch and never refetches on rotation; this module
keeps each key set in the shared cache (so every worker benefits) and refetches it when a launch names
an unknown kid: a key the platform just rotated in is picked up at once, while a stream of forged kids
gets at most `LTI_JWKS_REFETCH_BURST` fetches per `LTI_JWKS_REFETCH_MIN_INTERVAL` seconds.
"""

from __future__ import annotations

import hashlib
import time

import requests
from flask import current_app
from jwt import PyJWK
from jwt.exceptions import PyJWKError

from lti_tool.core.errors import LaunchError
from lti_tool.core.http import lms_session
from lti_tool.extensions import cache


def _cache_key(url: str) -> str:
    return "jwks:" + hashlib.sha256(url.encode()).hexdigest()


def fetch_key_set(url: str, refetches: list[float] | None = None) -> dict:
    """Fetch a platform JWKS over HTTP and remember it with the times it was refetched."""
    try:
        response = lms_session().get(url, headers={"Accept": "application/json"})
        response.raise_for_status()
        key_set = response.json()
    except (requests.RequestException, ValueError) as error:
        raise LaunchError(
            "The tool could not read your LMS's public keys to check the launch.",
            hint="Try again in a minute. If it keeps failing, the LMS administrator should check the key set URL.",
            status=502,
        ) from error
    if not isinstance(key_set, dict) or not isinstance(key_set.get("keys"), list):
        raise LaunchError("Your LMS's key set is not a JSON Web Key Set.", status=502)
    cache.set(_cache_key(url), {"keys": key_set["keys"], "fetched_at": time.time(), "refetches": refetches or []},
              timeout=current_app.config["LTI_JWKS_CACHE_SECONDS"])
    return key_set


def _find(keys: list[dict], kid: str) -> dict | None:
    return next((k for k in keys if k.get("kid") == kid), None)


def _refetch_for_unknown_kid(url: str, cached: dict, kid: str) -> dict | None:
    """The platform may have rotated its keys: fetch again, within the rate limit."""
    now = time.time()
    window = current_app.config["LTI_JWKS_REFETCH_MIN_INTERVAL"]
    recent = [at for at in cached.get("refetches", []) if now - at < window]
    if len(recent) >= current_app.config["LTI_JWKS_REFETCH_BURST"]:
        return None
    return _find(fetch_key_set(url, [*recent, now])["keys"], kid)


def platform_signing_key(key_set_url: str | None, static_key_set: dict | None, kid: str) -> PyJWK:
    """The platform key with this kid (LTI 1.3 Core §5.1.3 step 1; Security Framework §6.3)."""
    if static_key_set:
        jwk = _find(static_key_set.get("keys", []), kid)
    else:
        if not key_set_url:
            raise LaunchError("The platform's registration has no key set URL.")
        cached = cache.get(_cache_key(key_set_url))
        if cached is None:
            jwk = _find(fetch_key_set(key_set_url)["keys"], kid)
        else:
            jwk = _find(cached["keys"], kid)
            if jwk is None:
                jwk = _refetch_for_unknown_kid(key_set_url, cached, kid)
    if jwk is None:
        raise LaunchError(
            "The launch was signed with a key your LMS does not publish.",
            hint="Open the activity again; if it keeps failing, ask the LMS administrator to check the registration.",
            status=401,
        )
    try:
        return PyJWK(jwk, algorithm="RS256")
    except PyJWKError as error:
        raise LaunchError("Your LMS published a key the tool cannot use (RS256 is required).", status=401) from error
