"""OAuth 2 access tokens for LTI Advantage services, cached per registration and scope set.

The tool asks the platform's token endpoint with the client-credentials grant and a JWT client assertion
signed with its own key (1EdTech Security Framework 1.0 §4.1). pylti1p3 caches tokens only inside one
service connector; here they live in the shared cache until shortly before they expire, so every process
and worker reuses them.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
import time
import uuid
from urllib.parse import urljoin, urlsplit

import jwt
import requests
from flask import current_app

from lti_tool.core.http import lms_session
from lti_tool.core.keys import key_store
from lti_tool.extensions import cache
from lti_tool.lti.models import Registration

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME_SECONDS = 300
EXPIRY_MARGIN_SECONDS = 30  # a cached token is dropped this long (at most 10% of its life) before it expires

SCOPE_LINEITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
SCOPE_LINEITEM_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
SCOPE_RESULT_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
SCOPE_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
SCOPE_MEMBERSHIPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"

MAX_ERROR_LENGTH = 1000


class ServiceError(Exception):
    """A call to an LMS service failed. `retryable`: a timeout, a network error, 5xx or 429."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False, retry_after=None,
                 body: str | None = None):
        super().__init__(message)
        self.message = message
        self.body = body  # the LMS's answer alone (None when there was no answer)
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after  # seconds, from a Retry-After header


def error_from_response(response: requests.Response, what: str) -> ServiceError:
    """A ServiceError carrying the LMS's own message (shown to admins as is)."""
    status = response.status_code
    body = (response.text or "").strip()
    message = f"{what}: HTTP {status} {response.reason or ''}".rstrip()
    if body:
        message = f"{message}: {body[:MAX_ERROR_LENGTH]}"
    retry_after = None
    if response.headers.get("Retry-After", "").strip().isdigit():
        retry_after = int(response.headers["Retry-After"].strip())
    return ServiceError(message, status=status, retryable=status >= 500 or status == 429, retry_after=retry_after,
                        body=body[:MAX_ERROR_LENGTH])


def error_from_exception(error: requests.RequestException, what: str) -> ServiceError:
    """Timeouts and network errors are worth retrying; anything else from requests is too (the LMS may come back)."""
    kind = "timed out" if isinstance(error, requests.Timeout) else "could not be reached"
    return ServiceError(f"{what} {kind}: {error}"[:MAX_ERROR_LENGTH], retryable=True)


def client_assertion(registration: Registration) -> str:
    """The signed JWT that authenticates the tool at the token endpoint (Security Framework §4.1.1)."""
    key = key_store().signing_key()
    now = int(time.time())
    claims = {
        "iss": registration.client_id,
        "sub": registration.client_id,
        "aud": registration.auth_audience or registration.auth_token_url,
        "iat": now,
        "exp": now + ASSERTION_LIFETIME_SECONDS,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, key.private_pem, algorithm="RS256", headers={"kid": key.kid})


_token_lock = threading.Lock()


def _cache_key(registration: Registration, scopes: tuple[str, ...]) -> str:
    identity = "\n".join((str(registration.id), registration.client_id, registration.auth_token_url, *scopes))
    return "lti-access-token:" + hashlib.sha256(identity.encode()).hexdigest()


def _normalise(scopes) -> tuple[str, ...]:
    return tuple(sorted(set(scopes)))


def access_token(registration: Registration, scopes) -> str:
    """A bearer token for these scopes: from the cache, else from the platform's token endpoint.

    Raises the platform's refusal again, without asking, while it is remembered (`remember_refusal`).
    """
    scopes = _normalise(scopes)
    key = _cache_key(registration, scopes)
    cached = cache.get(key)
    if cached and cached.get("expires_at", 0) > time.time():
        return cached["access_token"]
    with _token_lock:  # threads sending side by side ask for one token, not one each
        cached = cache.get(key)
        if cached and cached.get("expires_at", 0) > time.time():
            return cached["access_token"]
        _raise_remembered_refusal(registration)
        return _fetch_and_cache(registration, scopes, key)


def _refusal_key(registration: Registration) -> str:
    """Per registration as it is set up now: a corrected client id, token URL or audience is asked at once."""
    identity = "\n".join((str(registration.id), registration.client_id, registration.auth_token_url,
                          registration.auth_audience or ""))
    return "lti-token-refused:" + hashlib.sha256(identity.encode()).hexdigest()


def remember_refusal(registration: Registration, error: ServiceError) -> None:
    """The platform refused the tool itself (its token endpoint, or a service with a fresh token): every other call
    for this registration gets the same answer without asking, for LTI_REFUSAL_MEMORY_SECONDS. So a batch of
    waiting scores asks a refusing platform once, not twice per score, and each score is retried with its backoff.
    """
    seconds = float(current_app.config["LTI_REFUSAL_MEMORY_SECONDS"])
    if seconds <= 0:
        return
    cache.set(_refusal_key(registration),
              {"message": error.message, "status": error.status, "body": error.body, "until": time.time() + seconds},
              timeout=math.ceil(seconds) + 1)


def _raise_remembered_refusal(registration: Registration) -> None:
    remembered = cache.get(_refusal_key(registration))
    if remembered and remembered.get("until", 0) > time.time():
        raise ServiceError(remembered["message"], status=remembered["status"], body=remembered.get("body"))


def _fetch_and_cache(registration: Registration, scopes: tuple[str, ...], key: str) -> str:
    try:
        token, lifetime = request_access_token(registration, scopes)
    except ServiceError as error:
        if error.status in REFUSED_STATUSES:
            remember_refusal(registration, error)
        raise
    lifetime -= min(EXPIRY_MARGIN_SECONDS, lifetime / 10)
    if lifetime >= 1:  # the cache's own timeout is whole seconds: expires_at decides
        cache.set(key, {"access_token": token, "expires_at": time.time() + lifetime}, timeout=math.ceil(lifetime) + 1)
    return token


def forget_access_token(registration: Registration, scopes) -> None:
    """Drop a cached token the platform no longer accepts (a 401 before it should expire)."""
    cache.delete(_cache_key(registration, _normalise(scopes)))


def request_access_token(registration: Registration, scopes) -> tuple[str, float]:
    """(access_token, expires_in) from the token endpoint (Security Framework §4.1, RFC 7523)."""
    data = {
        "grant_type": "client_credentials",
        "client_assertion_type": CLIENT_ASSERTION_TYPE,
        "client_assertion": client_assertion(registration),
        "scope": " ".join(_normalise(scopes)),
    }
    what = f"Access token request to {registration.auth_token_url}"
    try:
        response = lms_session().post(registration.auth_token_url, data=data, headers={"Accept": "application/json"})
    except requests.RequestException as error:
        raise error_from_exception(error, what) from error
    if response.status_code != 200:
        raise error_from_response(response, what)
    try:
        body = response.json()
        token = body["access_token"]
    except (ValueError, KeyError, TypeError):
        raise ServiceError(f"{what}: the answer holds no access_token", status=response.status_code) from None
    try:
        expires_in = float(body.get("expires_in", 3600))
    except (TypeError, ValueError):
        expires_in = 3600.0
    current_app.logger.debug("access token for registration %s, scopes %s", registration.id, scopes)
    return token, expires_in


REFUSED_STATUSES = (401, 403)  # the platform refuses the tool itself: its key, its token or its registration


def service_request(registration: Registration, scopes, method: str, url: str, *, what: str, **kwargs):
    """An authorised call to an LMS service; a 401 gets one fresh token, any other failure a ServiceError.

    A token the platform refused (401, or 403: the registration may have been switched off, its scopes changed) is
    dropped from the cache, so that the next call, however much later, asks the token endpoint again.
    """
    headers = dict(kwargs.pop("headers", None) or {})
    for attempt in (1, 2):
        headers["Authorization"] = f"Bearer {access_token(registration, scopes)}"
        try:
            response = lms_session().request(method, url, headers=headers, **kwargs)
        except requests.RequestException as error:
            raise error_from_exception(error, what) from error
        if response.status_code in REFUSED_STATUSES:
            forget_access_token(registration, scopes)
            if response.status_code == 401 and attempt == 1:
                continue
        if response.status_code >= 400:
            error = error_from_response(response, what)
            if response.status_code == 401:  # even a fresh token: the platform refuses the tool itself
                remember_refusal(registration, error)
            raise error
        return response
    raise AssertionError("unreachable")  # pragma: no cover


_LINK = re.compile(r"<([^>]*)>((?:\s*;\s*[^;,]+)*)")
_PARAM = re.compile(r"""\s*;\s*([^=;\s]+)\s*=\s*(?:"([^"]*)"|([^;,\s]*))""")


def next_page_url(response: requests.Response) -> str | None:
    """The `Link: <…>; rel="next"` URL, exactly as the platform wrote it (RFC 8288).

    pylti1p3 lower-cases the whole header, which breaks platforms with case-sensitive URLs: parse it here.
    A next page on another origin is refused, so that the bearer token never leaves the platform.
    """
    header = response.headers.get("Link")
    if not header:
        return None
    for match in _LINK.finditer(header):
        target, params = match.group(1).strip(), match.group(2) or ""
        rels = set()
        for param in _PARAM.finditer(params):
            if param.group(1).lower() == "rel":
                rels.update((param.group(2) or param.group(3) or "").lower().split())
        if "next" in rels:
            url = urljoin(response.url, target)
            here, there = urlsplit(response.url), urlsplit(url)
            if (here.scheme, here.netloc) != (there.scheme, there.netloc):
                raise ServiceError(f"The next page {url} is on another site than {response.url}")
            return url
    return None
