"""OIDC login and message launch on top of pylti1p3, with the gaps it leaves filled.

- the login keeps ONE cache entry per state (its nonce and the login parameters); the launch takes that entry
  once (read and deleted in one step) and accepts an id_token only when its nonce is that entry's nonce, so the
  id_token of one login can never complete another login's state (OpenID Connect Core §3.2.2.11);
- the nonce is single-use through one atomic cache add (`core.single_use.claim_once`), not a database row;
- the OIDC state cookie is `SameSite=None; Secure; Partitioned` so it survives third-party cookie blocking;
- the id_token is verified strictly: RS256 only, `aud`/`azp`/`iss`/`exp`/`iat` with a small leeway,
  the platform key found through a cached JWKS that is refetched when an unknown kid arrives;
- pylti1p3's launch data is saved only for deep linking launches (the deep linking answer restores it);
- every failure becomes a `LaunchError` with a message a person can act on.
"""

from __future__ import annotations

import hashlib
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import requests
from flask import current_app
from pylti1p3.contrib.flask import FlaskCookieService, FlaskMessageLaunch, FlaskOIDCLogin, FlaskRequest
from pylti1p3.contrib.flask.launch_data_storage.cache import FlaskCacheDataStorage
from pylti1p3.exception import LtiException, OIDCException

from lti_tool.core import single_use
from lti_tool.core.errors import LaunchError
from lti_tool.extensions import cache, db
from lti_tool.lti import claims as c
from lti_tool.lti.models import Registration
from lti_tool.lti.platform_keys import platform_signing_key
from lti_tool.lti.return_urls import platform_link
from lti_tool.lti.tool_conf import DatabaseToolConf, find_registration

STATE_COOKIE_PATH = "/lti/"
LOGIN_KEY = "lti-login:"  # + state: {"nonce": ..., "login": {...}, "storage_target": ...}
USED_NONCE_KEY = "lti-nonce-used:"  # + sha256(issuer, nonce)
# pylti1p3 opens a requests.Session per launch object; the tool fetches platform keys itself (platform_keys).
_UNUSED_HTTP = requests.Session()


class LaunchCacheStorage(FlaskCacheDataStorage):
    """pylti1p3 storage in the shared cache, keyed by unguessable launch ids alone (deep linking's launch data).

    pylti1p3 would add a per-browser session id from yet another cookie; inside an LMS iframe that cookie
    is exactly what browsers drop, and the ids are already secret, so the session id is left out.
    """

    def get_session_cookie_name(self):
        return None


class PartitionedCookieService(FlaskCookieService):
    """The OIDC state cookie: `SameSite=None; Secure; Partitioned` (CHIPS), kept in third-party iframes."""

    def update_response(self, response):
        # Twice: partitioned (kept by CHIPS browsers in any frame) and unpartitioned, the copy a Storage Access API
        # grant covers (the fallback page asks for it; a grant opens a frame's unpartitioned cookies only).
        for key, data in self._cookie_data_to_set.items():
            for partitioned in (True, False):
                response.set_cookie(
                    key,
                    data["value"],
                    max_age=data["exp"],
                    path=STATE_COOKIE_PATH,
                    secure=True,
                    httponly=True,
                    samesite="None",
                    partitioned=partitioned,
                )


def _services():
    lti_request = FlaskRequest()
    storage = LaunchCacheStorage(cache)
    return lti_request, storage, PartitionedCookieService(lti_request)


class ToolOIDCLogin(FlaskOIDCLogin):
    """Third-party initiated login (LTI 1.3 Core §5.1.1 / Security Framework §5.1.1.1)."""

    @classmethod
    def for_request(cls) -> ToolOIDCLogin:
        lti_request, storage, cookies = _services()
        return cls(lti_request, DatabaseToolConf(), cookie_service=cookies, launch_data_storage=storage)

    def auth_url(self, launch_url: str) -> str:
        """Validate the login request and build the platform authorization URL (state and nonce stored)."""
        try:
            return self._prepare_redirect_url(launch_url)
        except OIDCException as error:
            raise LaunchError(_login_message(str(error))) from error

    def _prepare_redirect_url(self, launch_url: str) -> str:
        """pylti1p3's authorization request, with state and nonce kept together in one cache entry."""
        self._registration = self.validate_oidc_login()
        state = "state-" + secrets.token_urlsafe(24)
        nonce = secrets.token_urlsafe(32)
        lifetime = current_app.config["LTI_STATE_MAX_AGE"]
        self._cookie_service.set_cookie(state, state, lifetime)
        cache.set(LOGIN_KEY + state, {**self._state_params, "nonce": nonce}, timeout=lifetime)
        params = {
            "scope": "openid",
            "response_type": "id_token",
            "response_mode": "form_post",
            "prompt": "none",
            "client_id": self._registration.get_client_id(),
            "redirect_uri": launch_url,
            "state": state,
            "nonce": nonce,
            "login_hint": self._get_request_param("login_hint"),
        }
        if self._get_request_param("lti_message_hint"):
            params["lti_message_hint"] = self._get_request_param("lti_message_hint")
        return self._registration.get_auth_login_url() + "?" + urlencode(params)

    def redirect_to(self, auth_url: str):
        return self.get_redirect(auth_url).do_redirect()


def _login_message(library_message: str) -> str:
    if "registration" in library_message.lower():
        return "This LMS is not registered with the tool (no registration for its issuer and client id)."
    if "login hint" in library_message.lower():
        return "The LMS did not send a login hint with the login request."
    if "issuer" in library_message.lower():
        return "The LMS did not say who it is (no issuer in the login request)."
    return f"The login request from the LMS was not valid: {library_message}"


def state_and_nonce(auth_url: str) -> tuple[str, str]:
    query = parse_qs(urlsplit(auth_url).query)
    return query["state"][0], query["nonce"][0]


class StateNotFound(LaunchError):
    """The OIDC state came back without its cookie: the browser dropped it inside the iframe."""


class ToolMessageLaunch(FlaskMessageLaunch):
    """A resource link, deep linking or submission review launch (LTI 1.3 Core §5.1.3)."""

    storage_verified = False  # set when the platform's postMessage storage vouched for the state
    state_from_cookie = False  # the state came back with its cookie: this browser keeps partitioned cookies
    _login: dict | None = None  # the login's cache entry (nonce and login parameters), taken by validate_state

    @classmethod
    def for_request(cls) -> ToolMessageLaunch:
        lti_request, storage, cookies = _services()
        launch = cls(lti_request, DatabaseToolConf(), cookie_service=cookies, launch_data_storage=storage,
                     requests_session=_UNUSED_HTTP)
        launch.set_launch_data_lifetime(current_app.config["LTI_SESSION_MAX_AGE"])
        return launch

    # -- the order matters: nothing is recorded (nonce) before the signature is known good -------------
    def validate(self):
        if self._restored:
            raise LtiException("Can't validate restored launch")
        self._validated = True
        try:
            self.validate_state()
            self._step("format", self.validate_jwt_format)
            self._check_registered()
            self._step("registration", self.validate_registration)
            self.validate_jwt_signature()
            self._step("deployment", self.validate_deployment)
            self._step("message", self.validate_message)
            self.validate_nonce()
            self.save_launch_data()
        except Exception:
            self._validated = False
            raise
        return self

    def _check_registered(self) -> None:
        """Name the problem plainly: an unknown LMS, or a launch meant for another tool (LTI 1.3 Core §5.1.2)."""
        body = self.body()
        issuer = body.get("iss") if isinstance(body, dict) else None
        if not isinstance(issuer, str) or not body.get("aud"):
            return  # the library's format check names what is missing
        registration = find_registration(issuer, c.client_id(body))
        audiences = body["aud"] if isinstance(body["aud"], list) else [body["aud"]]
        if registration is not None and registration.client_id in audiences:
            return
        known = db.session.execute(db.select(Registration.client_id, Registration.is_active)
                                   .where(Registration.issuer == issuer)).all()
        if not known and registration is None:
            raise LaunchError("This LMS is not registered with the tool.", status=401,
                              hint="The LMS administrator should register the tool first (see /lti/config).")
        if any(client_id in audiences and not is_active for client_id, is_active in known):
            raise LaunchError("This LMS's registration with the tool has been switched off.", status=401,
                              hint="Ask your LMS administrator; nothing you saved has been deleted.")
        raise LaunchError("The launch was meant for another tool (its audience is not a client id this LMS "
                          "registered with the tool).", return_url=self.trusted_return_url(), status=401)

    def _step(self, name: str, step) -> None:
        try:
            step()
        except LtiException as error:
            raise LaunchError(_STEP_MESSAGES[name](str(error)), return_url=self.trusted_return_url()) from error

    def body(self) -> dict:
        return self._jwt.get("body", {})

    def get_client_id(self) -> str:
        """This tool's client id in the token: `azp` when given. pylti1p3 takes the first `aud`, which names another
        tool when the platform lists that one first (OpenID Connect Core §2: `azp` is the party it was issued to)."""
        return c.client_id(self.body())

    def trusted_return_url(self) -> str | None:
        """The LMS return URL of this (maybe unverified) token, only when it points at a registered platform."""
        body = self.body()
        url = (body.get(c.LAUNCH_PRESENTATION) or {}).get("return_url") if isinstance(body, dict) else None
        issuer = body.get("iss") if isinstance(body, dict) else None
        if not url or not isinstance(issuer, str):
            return None
        return platform_link(url, find_registration(issuer, c.client_id(body) if body.get("aud") else None))

    def validate_state(self):
        """The state must match the cookie set at login, or be vouched for by the platform's storage.

        With its cookie, the login's entry is taken (read and deleted at once): the state serves one launch only.
        Without it, the entry stays for the storage check page, which posts the same state again.
        """
        state = self._get_request_param("state")
        if not state:
            raise LaunchError("The launch came without its OIDC state.", status=401)
        if self._cookie_service.get_cookie(state) == state:
            self.state_from_cookie = True
            self._login = single_use.take_once(LOGIN_KEY + state)
            if self._login is None:
                raise LaunchError("This launch was already used, or its login has expired.",
                                  hint="Open the activity again from your course.", status=401)
            return self
        login = self.login_params()
        if self.storage_verified and login.get("storage_target"):
            if single_use.take_once(LOGIN_KEY + state) is None:
                raise LaunchError("This launch was already used, or its login has expired.",
                                  hint="Open the activity again from your course.", status=401)
            return self  # the platform's storage, read by the tool's own page, vouched for this state
        raise StateNotFound(
            "Your browser did not keep the short-lived cookie that ties this launch to its login.",
            hint="Open the activity in a new window, or allow cookies for this tool.",
            status=401,
        )

    def validate_jwt_signature(self):
        """Verify the signature and the standard claims strictly (Security Framework §5.1.3)."""
        id_token = self._get_id_token()
        header = self._jwt.get("header", {})
        return_url = self.trusted_return_url()
        if header.get("alg") != "RS256":
            raise LaunchError(
                f"The launch was signed with {header.get('alg')!r}; LTI 1.3 requires RS256.",
                return_url=return_url,
                status=401,
            )
        if not header.get("kid"):
            raise LaunchError("The launch token does not name its signing key (no kid).", return_url=return_url,
                              status=401)
        registration = self._db_registration()
        key = platform_signing_key(registration.key_set_url, registration.key_set, header["kid"])
        try:
            jwt.decode(
                id_token,
                key=key,
                algorithms=["RS256"],
                audience=registration.client_id,
                issuer=registration.issuer,
                leeway=current_app.config["LTI_CLOCK_SKEW_SECONDS"],
                options={"require": ["exp", "iat", "iss", "aud", "nonce"]},
            )
        except jwt.ExpiredSignatureError as error:
            raise LaunchError("The launch has expired before it reached the tool.",
                              hint="Open the activity again. If this keeps happening, check the LMS server's clock.",
                              return_url=return_url, status=401) from error
        except jwt.ImmatureSignatureError as error:
            raise LaunchError("The launch was issued in the future (the LMS's clock is ahead of the tool's).",
                              hint="Ask the LMS administrator to check the server's clock.",
                              return_url=return_url, status=401) from error
        except jwt.InvalidAudienceError as error:
            raise LaunchError("The launch was meant for another tool (wrong audience).", return_url=return_url,
                              status=401) from error
        except jwt.InvalidIssuerError as error:
            raise LaunchError("The launch came from an issuer the tool does not know.", return_url=return_url,
                              status=401) from error
        except jwt.InvalidSignatureError as error:
            raise LaunchError("The launch's signature is not valid.", return_url=return_url, status=401) from error
        except jwt.InvalidTokenError as error:
            raise LaunchError(f"The launch token is not valid: {error}.", return_url=return_url, status=401) from error
        self._check_authorized_party(registration.client_id, return_url)
        return self

    def _check_authorized_party(self, client_id: str, return_url: str | None) -> None:
        body = self.body()
        aud = body.get("aud")
        several = isinstance(aud, list) and len(aud) > 1
        if (several or "azp" in body) and body.get("azp") != client_id:
            raise LaunchError("The launch names another tool as its authorized party (azp).", return_url=return_url,
                              status=401)

    def _db_registration(self):
        body = self.body()
        registration = find_registration(body["iss"], c.client_id(body))
        if registration is None:
            raise LaunchError("This LMS is not registered with the tool.", status=401)
        return registration

    def validate_nonce(self):
        """The nonce must be the one this state's login issued, and is accepted once only
        (Security Framework §5.1.3 step 9; OpenID Connect Core §3.2.2.11)."""
        body = self.body()
        nonce = body.get("nonce")
        issued = (self._login or {}).get("nonce")
        if not nonce or not isinstance(nonce, str) or not issued or not secrets.compare_digest(nonce, issued):
            raise LaunchError("The launch's nonce was not issued by this tool's login for this launch, "
                              "or it has expired.",
                              hint="Open the activity again from your course.", return_url=self.trusted_return_url(),
                              status=401)
        # The login's entry (the only place this nonce is accepted from) lives LTI_STATE_MAX_AGE at most.
        lifetime = current_app.config["LTI_STATE_MAX_AGE"] + current_app.config["LTI_CLOCK_SKEW_SECONDS"]
        if not single_use.claim_once(USED_NONCE_KEY + _digest(body["iss"], nonce), lifetime):
            raise LaunchError("This launch was already used (replayed nonce).",
                              hint="Open the activity again from your course.", return_url=self.trusted_return_url(),
                              status=401)
        return self

    def save_launch_data(self):
        """Only a deep linking launch is restored later (its answer to the platform); the others need nothing kept."""
        if self.body().get(c.MESSAGE_TYPE) == c.DEEP_LINKING_REQUEST:
            self._session_service.save_launch_data(self._launch_id, self._jwt["body"])
        return self

    def login_params(self) -> dict:
        """The login's entry for this state (nonce, login parameters, storage target), read once per launch."""
        if self._login is None:
            self._login = cache.get(LOGIN_KEY + (self._get_request_param("state") or "")) or {}
        return self._login


def _digest(issuer: str, nonce: str) -> str:
    return hashlib.sha256(f"{issuer}\n{nonce}".encode()).hexdigest()


_STEP_MESSAGES = {
    "format": lambda m: "The launch token is not a well-formed JWT.",
    "registration": lambda m: "This LMS (issuer and client id) is not registered with the tool."
    if "not found" in m.lower() or "not registered" in m.lower()
    else f"The launch's issuer or client id is not valid: {m}",
    "deployment": lambda m: "This LMS deployment is not registered with the tool (unknown deployment id).",
    "message": lambda m: f"The launch message is not valid: {m}.",
}


def restore_launch(launch_id: str) -> ToolMessageLaunch | None:
    """A deep linking launch saved by `validate()`, for its answer to the platform (a later request)."""
    lti_request, storage, cookies = _services()
    try:
        return ToolMessageLaunch.from_cache(
            launch_id, lti_request, DatabaseToolConf(), cookie_service=cookies, launch_data_storage=storage,
            requests_session=_UNUSED_HTTP,
        )
    except LtiException:
        return None
