"""OIDC login and message launch on top of pylti1p3, with the gaps it leaves filled.

- launch data, state and nonces live in the shared cache (filesystem or Redis), not in a cookie session;
- the OIDC state cookie is `SameSite=None; Secure; Partitioned` so it survives third-party cookie blocking;
- the id_token is verified strictly: RS256 only, `aud`/`azp`/`iss`/`exp`/`iat` with a small leeway,
  the platform key found through a cached JWKS that is refetched when an unknown kid arrives;
- a nonce is accepted once only (pylti1p3 never consumes it), recorded in the database;
- every failure becomes a `LaunchError` with a message a person can act on.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import jwt
from flask import current_app
from pylti1p3.contrib.flask import FlaskCookieService, FlaskMessageLaunch, FlaskOIDCLogin, FlaskRequest
from pylti1p3.contrib.flask.launch_data_storage.cache import FlaskCacheDataStorage
from pylti1p3.exception import LtiException, OIDCException
from sqlalchemy.exc import IntegrityError

from lti_tool.core.errors import LaunchError
from lti_tool.extensions import cache, db
from lti_tool.lti import claims as c
from lti_tool.lti.models import Registration, UsedNonce, origin_of
from lti_tool.lti.platform_keys import platform_signing_key
from lti_tool.lti.tool_conf import DatabaseToolConf, find_registration

STATE_COOKIE_PATH = "/lti/"


class LaunchCacheStorage(FlaskCacheDataStorage):
    """pylti1p3 storage in the shared cache, keyed by unguessable state, nonce and launch ids alone.

    pylti1p3 would add a per-browser session id from yet another cookie; inside an LMS iframe that cookie
    is exactly what browsers drop, and the ids are already secret, so the session id is left out.
    """

    def get_session_cookie_name(self):
        return None


class PartitionedCookieService(FlaskCookieService):
    """The OIDC state cookie: `SameSite=None; Secure; Partitioned` (CHIPS), kept in third-party iframes."""

    def update_response(self, response):
        for key, data in self._cookie_data_to_set.items():
            response.set_cookie(
                key,
                data["value"],
                max_age=data["exp"],
                path=STATE_COOKIE_PATH,
                secure=True,
                httponly=True,
                samesite="None",
                partitioned=True,
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
        login = cls(lti_request, DatabaseToolConf(), cookie_service=cookies, launch_data_storage=storage)
        login.set_launch_data_storage(storage)
        login.set_launch_data_lifetime(current_app.config["LTI_STATE_MAX_AGE"])
        return login

    def auth_url(self, launch_url: str) -> str:
        """Validate the login request and build the platform authorization URL (state and nonce stored)."""
        try:
            return self._prepare_redirect_url(launch_url)
        except OIDCException as error:
            raise LaunchError(_login_message(str(error))) from error

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

    @classmethod
    def for_request(cls) -> ToolMessageLaunch:
        lti_request, storage, cookies = _services()
        launch = cls(lti_request, DatabaseToolConf(), cookie_service=cookies, launch_data_storage=storage)
        launch.set_launch_data_lifetime(current_app.config["LTI_LAUNCH_TOKEN_MAX_AGE"])
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
        known_issuer = db.session.scalar(db.select(Registration.id).where(Registration.issuer == issuer).limit(1))
        if known_issuer is None and registration is None:
            raise LaunchError("This LMS is not registered with the tool.", status=401,
                              hint="The LMS administrator should register the tool first (see /lti/config).")
        raise LaunchError("The launch was meant for another tool (its audience is not a client id this LMS "
                          "registered with the tool).", return_url=self.trusted_return_url(), status=401)

    def _step(self, name: str, step) -> None:
        try:
            step()
        except LtiException as error:
            raise LaunchError(_STEP_MESSAGES[name](str(error)), return_url=self.trusted_return_url()) from error

    def body(self) -> dict:
        return self._jwt.get("body", {})

    def trusted_return_url(self) -> str | None:
        """The LMS return URL of this (maybe unverified) token, only when it points at a registered platform."""
        body = self.body()
        url = (body.get(c.LAUNCH_PRESENTATION) or {}).get("return_url") if isinstance(body, dict) else None
        issuer = body.get("iss") if isinstance(body, dict) else None
        if not url or not isinstance(issuer, str):
            return None
        registration = find_registration(issuer, c.client_id(body) if body.get("aud") else None)
        if registration is None or origin_of(url) not in registration.frame_origins:
            return None
        return url

    def validate_state(self):
        """The state must match the cookie set at login, or be vouched for by the platform's storage."""
        state = self._get_request_param("state")
        if not state:
            raise LaunchError("The launch came without its OIDC state.", status=401)
        if self._cookie_service.get_cookie(state) == state:
            return self
        login_params = self._session_service.get_state_params(state) or {}
        if self.storage_verified and login_params.get("storage_target"):
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

    def _db_registration(self) -> Registration:
        body = self.body()
        registration = find_registration(body["iss"], c.client_id(body))
        if registration is None:
            raise LaunchError("This LMS is not registered with the tool.", status=401)
        return registration

    def validate_nonce(self):
        """The nonce must be one we issued at login, and is accepted once only (Security Framework §5.1.3 step 9)."""
        body = self.body()
        nonce = body.get("nonce")
        if not nonce or not self._session_service.check_nonce(nonce):
            raise LaunchError("The launch's nonce was not issued by this tool's login, or it has expired.",
                              hint="Open the activity again from your course.", return_url=self.trusted_return_url(),
                              status=401)
        lifetime = current_app.config["LTI_NONCE_MAX_AGE"]
        expires_at = max(datetime.now(UTC) + timedelta(seconds=lifetime),
                         datetime.fromtimestamp(body.get("exp", 0), UTC) + timedelta(seconds=lifetime))
        try:
            with db.session.begin_nested():
                db.session.add(UsedNonce(issuer=body["iss"], nonce=_digest(nonce), expires_at=expires_at))
        except IntegrityError as error:
            raise LaunchError("This launch was already used (replayed nonce).",
                              hint="Open the activity again from your course.", return_url=self.trusted_return_url(),
                              status=401) from error
        return self

    def consume_state(self) -> None:
        """Forget the login state so it cannot vouch for a second launch."""
        state = self._get_request_param("state")
        self._session_service.data_storage.set_value(self._session_service._get_key(state), None, exp=1)

    def login_params(self) -> dict:
        return self._session_service.get_state_params(self._get_request_param("state") or "") or {}


def _digest(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


_STEP_MESSAGES = {
    "format": lambda m: "The launch token is not a well-formed JWT.",
    "registration": lambda m: "This LMS (issuer and client id) is not registered with the tool."
    if "not found" in m.lower() or "not registered" in m.lower()
    else f"The launch's issuer or client id is not valid: {m}",
    "deployment": lambda m: "This LMS deployment is not registered with the tool (unknown deployment id).",
    "message": lambda m: f"The launch message is not valid: {m}.",
}


def prune_used_nonces() -> int:
    """Delete nonces past their expiry (their tokens have long expired, so a replay fails on exp)."""
    result = db.session.execute(db.delete(UsedNonce).where(UsedNonce.expires_at < datetime.now(UTC)))
    return result.rowcount or 0



def restore_launch(launch_id: str) -> ToolMessageLaunch | None:
    """A launch saved by `validate()`, for a later request of the same launch (e.g. the deep linking answer)."""
    lti_request, storage, cookies = _services()
    try:
        return ToolMessageLaunch.from_cache(
            launch_id, lti_request, DatabaseToolConf(), cookie_service=cookies, launch_data_storage=storage
        )
    except LtiException:
        return None
