"""Platform registrations: manual registration, registration invites and LTI Dynamic Registration 1.0.

Services change data and flush; the caller (a request or a CLI command) commits once.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit

import requests
from flask import current_app

from lti_tool.core.errors import DomainError, InvalidInput, NotAllowed, NotFound
from lti_tool.core.http import lms_session
from lti_tool.core.models import utcnow
from lti_tool.core.urls import external_url
from lti_tool.extensions import db
from lti_tool.lti.models import Deployment, LtiUser, Registration, RegistrationInvite, origin_of
from lti_tool.lti.tool_conf import forget_registrations

PLATFORM_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-platform-configuration"
TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"

SCOPE_LINEITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
SCOPE_RESULT_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
SCOPE_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
SCOPE_NRPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
TOOL_SCOPES = (SCOPE_LINEITEM, SCOPE_RESULT_READONLY, SCOPE_SCORE, SCOPE_NRPS)

RESOURCE_LINK_REQUEST = "LtiResourceLinkRequest"
DEEP_LINKING_REQUEST = "LtiDeepLinkingRequest"

# Identity claims the tool wants in launches; Moodle sends name and email only when they are listed.
TOOL_CLAIMS = ("iss", "sub", "name", "given_name", "family_name", "email")

REQUIRED_CONFIGURATION_FIELDS = (
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "jwks_uri",
    "registration_endpoint",
    "scopes_supported",
)

INVITE_TOKEN_BYTES = 32


class RegistrationFailed(DomainError):
    """Dynamic registration could not be completed; nothing was stored."""

    status = 400
    title = "Registration with your LMS did not work"

    def __init__(self, message: str, *, hint: str | None = None, status: int = 400):
        super().__init__(message, hint=hint)
        self.status = status


# -- what the tool tells platforms about itself ------------------------------------------------------------


@dataclass(frozen=True)
class ToolDescription:
    """Every URL and scope an LMS needs: one source for /lti/config, the Canvas JSON and dynamic registration."""

    name: str
    description: str
    login_url: str
    launch_url: str
    jwks_url: str
    register_url: str
    config_url: str
    logo_url: str
    contact_email: str = ""
    scopes: tuple[str, ...] = TOOL_SCOPES
    claims: tuple[str, ...] = TOOL_CLAIMS
    messages: tuple[str, ...] = field(default=(RESOURCE_LINK_REQUEST, DEEP_LINKING_REQUEST))

    @property
    def domain(self) -> str:
        """host[:port] of the tool: Moodle refuses a target link URI whose port is not in the domain."""
        return urlsplit(self.launch_url).netloc

    @property
    def host(self) -> str:
        return urlsplit(self.launch_url).hostname or ""


def describe_tool() -> ToolDescription:
    """The tool as an LMS sees it (absolute URLs honor BASE_URL; needs a request or a SERVER_NAME)."""
    config = current_app.config
    launch_url = external_url("lti.launch")
    return ToolDescription(
        name=config["LTI_TOOL_NAME"],
        description=config["LTI_TOOL_DESCRIPTION"],
        login_url=external_url("lti.login"),
        launch_url=launch_url,
        # The JWKS view has two rules and url_for picks /.well-known/jwks.json; publish the documented one.
        jwks_url=launch_url.removesuffix("/launch") + "/jwks",
        register_url=external_url("registration.register"),
        config_url=external_url("registration.config_page"),
        logo_url=external_url("registration.logo"),
        contact_email=config.get("LTI_CONTACT_EMAIL") or "",
    )


def tool_messages(tool: ToolDescription, product_family_code: str | None = None) -> list[dict]:
    """The messages the tool accepts (LTI DR 1.0 §2.4.2): launches and deep linking, both at the launch URL."""
    # Canvas reads placements with its own names; other platforms use the spec's examples.
    deep_linking_placements = (
        ["assignment_selection", "link_selection"] if product_family_code == "canvas" else ["ContentArea"]
    )
    return [
        {
            "type": RESOURCE_LINK_REQUEST,
            "target_link_uri": tool.launch_url,
            "label": tool.name,
            "icon_uri": tool.logo_url,
        },
        {
            "type": DEEP_LINKING_REQUEST,
            "target_link_uri": tool.launch_url,
            "label": f"Add a micro-credential ({tool.name})",
            "icon_uri": tool.logo_url,
            "placements": deep_linking_placements,
        },
    ]


def client_registration_request(tool: ToolDescription, platform_configuration: dict) -> dict:
    """The tool's OpenID client registration (LTI DR 1.0 §3.5), asking only for scopes the platform supports."""
    supported = set(platform_configuration.get("scopes_supported") or ())
    scopes = [scope for scope in tool.scopes if scope in supported]
    product = (platform_configuration.get(PLATFORM_CONFIGURATION) or {}).get("product_family_code")
    request = {
        "application_type": "web",
        "response_types": ["id_token"],
        "grant_types": ["implicit", "client_credentials"],
        "initiate_login_uri": tool.login_url,
        "redirect_uris": [tool.launch_url],
        "client_name": tool.name,
        "jwks_uri": tool.jwks_url,
        "logo_uri": tool.logo_url,
        "token_endpoint_auth_method": "private_key_jwt",
        "scope": " ".join(scopes),
        TOOL_CONFIGURATION: {
            "domain": tool.domain,
            "target_link_uri": tool.launch_url,
            "description": tool.description,
            "claims": list(tool.claims),
            "messages": tool_messages(tool, product),
        },
    }
    if tool.contact_email:
        request["contacts"] = [tool.contact_email]
    return request


# -- manual registration ----------------------------------------------------------------------------------


def _find_registration(issuer: str, client_id: str) -> Registration | None:
    return db.session.scalar(
        db.select(Registration).where(Registration.issuer == issuer, Registration.client_id == client_id)
    )


def _require_url(value: str | None, what: str) -> str:
    if not origin_of(value):
        raise InvalidInput(f"The {what} must be an http(s) URL (got {value!r}).")
    return value.strip()


def register_platform(
    *,
    issuer: str,
    client_id: str,
    auth_login_url: str,
    auth_token_url: str,
    key_set_url: str,
    deployment_ids: list[str] | tuple[str, ...] = (),
    auth_audience: str | None = None,
    name: str | None = None,
    product_family_code: str | None = None,
) -> Registration:
    """Add (or update) a platform's registration for one client id, with its deployments."""
    issuer = _require_url(issuer, "issuer")
    if not client_id or not client_id.strip():
        raise InvalidInput("The client id is required.")
    client_id = client_id.strip()
    registration = _find_registration(issuer, client_id)
    if registration is None:
        has_sibling = db.session.scalar(db.select(Registration.id).where(Registration.issuer == issuer).limit(1))
        is_first = db.session.scalar(db.select(Registration.id).limit(1)) is None
        # In development the first platform registered manages the shared catalog; in production only the
        # operator grants that (`flask platforms catalog-manager`), never a registration by itself.
        is_first = is_first and current_app.config.get("ENV_NAME") != "production"
        registration = Registration(issuer=issuer, client_id=client_id, is_default_for_issuer=has_sibling is None,
                                    manages_catalog=is_first)
        db.session.add(registration)
    registration.is_active = True  # registering again switches a switched-off registration back on
    registration.name = (name or "").strip() or f"{product_family_code or 'LMS'} at {urlsplit(issuer).netloc}"
    registration.auth_login_url = _require_url(auth_login_url, "authorization (login) URL")
    registration.auth_token_url = _require_url(auth_token_url, "token URL")
    registration.key_set_url = _require_url(key_set_url, "key set (JWKS) URL")
    registration.auth_audience = auth_audience or None
    registration.product_family_code = product_family_code or registration.product_family_code
    registration.is_active = True
    known = {d.deployment_id for d in registration.deployments}
    for deployment_id in deployment_ids:
        deployment_id = str(deployment_id).strip()
        if deployment_id and deployment_id not in known:
            registration.deployments.append(Deployment(deployment_id=deployment_id))
            known.add(deployment_id)
    db.session.flush()
    forget_registrations()  # every process reads registrations again (lti.tool_conf)
    current_app.logger.info("registered platform %s client %s", issuer, client_id)
    return registration


def set_catalog_manager(registration: Registration, manages: bool) -> Registration:
    """Let (or stop) this platform's admins manage the catalog that every platform shares."""
    registration.manages_catalog = manages
    db.session.flush()
    return registration


def list_registrations() -> list[Registration]:
    """Every registration, by issuer then client id."""
    return list(db.session.scalars(db.select(Registration).order_by(Registration.issuer, Registration.client_id)))


def find_registration_to_remove(
    registration_id: int | None = None, issuer: str | None = None, client_id: str | None = None
) -> Registration:
    """A registration by id, or by issuer and client id; NotFound otherwise."""
    if registration_id is not None:
        registration = db.session.get(Registration, registration_id)
    elif issuer and client_id:
        registration = _find_registration(issuer, client_id)
    else:
        raise InvalidInput("Give a registration id, or both the issuer and the client id.")
    if registration is None:
        raise NotFound("No such registration.")
    return registration


def deactivate_platform(registration: Registration) -> Registration:
    """Refuse this registration's launches from now on; everything made through it is kept."""
    registration.is_active = False
    db.session.flush()
    forget_registrations()  # every process reads registrations again (lti.tool_conf)
    current_app.logger.info("switched off platform %s client %s", registration.issuer, registration.client_id)
    return registration


def remove_platform(registration: Registration) -> None:
    """Delete a registration with its deployments (and, through the schema, what was launched through it).

    People belong to the issuer (one person per issuer): those first seen through this registration move to
    another registration of the same issuer, so what they did through that one is kept.
    """
    other = db.session.scalar(db.select(Registration.id).where(
        Registration.issuer == registration.issuer, Registration.id != registration.id).order_by(Registration.id))
    if other is not None:
        db.session.execute(db.update(LtiUser).where(LtiUser.registration_id == registration.id)
                           .values(registration_id=other).execution_options(synchronize_session="fetch"))
    db.session.delete(registration)
    db.session.flush()
    forget_registrations()  # every process reads registrations again (lti.tool_conf)
    current_app.logger.info("removed platform %s client %s", registration.issuer, registration.client_id)


# -- registration invites ------------------------------------------------------------------------------------


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_invite(expires_hours: float = 24, note: str | None = None) -> tuple[RegistrationInvite, str]:
    """A single-use, expiring registration invite; returns it with the token (only its sha256 is stored)."""
    if expires_hours <= 0:
        raise InvalidInput("An invite must expire in the future.")
    token = secrets.token_urlsafe(INVITE_TOKEN_BYTES)
    invite = RegistrationInvite(
        token_hash=_hash_token(token), note=note, expires_at=utcnow() + timedelta(hours=expires_hours)
    )
    db.session.add(invite)
    db.session.flush()
    return invite, token


def redeem_invite(token: str | None) -> RegistrationInvite:
    """Mark an invite used (atomically: a second use is refused even when two requests race).

    The request's rollback on a failed registration leaves the invite usable again.
    """
    refused = NotAllowed(
        "This registration URL is not valid, has expired or was already used.",
        hint="Ask the tool's administrator for a new one (`flask --app wsgi platforms invite`).",
    )
    if not token:
        raise refused
    token_hash = _hash_token(token)
    now = utcnow()
    claimed = db.session.execute(
        db.update(RegistrationInvite)
        .where(
            RegistrationInvite.token_hash == token_hash,
            RegistrationInvite.used_at.is_(None),
            RegistrationInvite.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        raise refused
    return db.session.scalar(db.select(RegistrationInvite).where(RegistrationInvite.token_hash == token_hash))


def check_registration_allowed(invite_token: str | None) -> RegistrationInvite | None:
    """Open registration (development) needs nothing; otherwise a valid invite, which is used up."""
    if invite_token:
        return redeem_invite(invite_token)
    if current_app.config.get("LTI_REGISTRATION_OPEN"):
        return None
    raise NotAllowed(
        "This tool accepts registrations only through a registration URL from its administrator.",
        hint="The tool's administrator creates one with `flask --app wsgi platforms invite`.",
    )


def list_invites() -> list[RegistrationInvite]:
    return list(db.session.scalars(db.select(RegistrationInvite).order_by(RegistrationInvite.created_at.desc())))


# -- LTI Dynamic Registration 1.0 ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DynamicRegistrationResult:
    registration: Registration
    deployment: Deployment | None
    platform_name: str
    product_family_code: str | None


def _get_json(url: str, what: str, bearer: str | None = None) -> dict:
    headers = {"Accept": "application/json"}
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    try:
        response = lms_session().get(url, headers=headers)
    except requests.RequestException as error:
        raise RegistrationFailed(
            f"The tool could not reach your LMS to read its {what} ({error.__class__.__name__}).",
            hint="Check that the LMS can be reached from the tool's server.",
            status=502,
        ) from None
    if response.status_code != 200:
        raise RegistrationFailed(
            f"Your LMS answered {response.status_code} when the tool asked for its {what}.",
            hint="The registration link may have expired: start the registration again from the LMS.",
            status=502,
        )
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise RegistrationFailed(f"Your LMS's {what} is not a JSON object.", status=502)
    return data


def fetch_platform_configuration(openid_configuration_url: str, registration_token: str | None) -> dict:
    """Fetch and validate the platform's OpenID configuration (LTI DR 1.0 §3.4, §3.5.1)."""
    if not origin_of(openid_configuration_url):
        raise RegistrationFailed("The openid_configuration parameter is not an http(s) URL.")
    # Canvas serves its configuration only to a bearer of the registration token (reading it does not use it up).
    configuration = _get_json(openid_configuration_url, "OpenID configuration", bearer=registration_token)
    validate_platform_configuration(configuration, openid_configuration_url)
    return configuration


def validate_platform_configuration(configuration: dict, openid_configuration_url: str) -> None:
    """The issuer must be served from its own origin; the fields the tool relies on must be there."""
    missing = [name for name in REQUIRED_CONFIGURATION_FIELDS if not configuration.get(name)]
    platform = configuration.get(PLATFORM_CONFIGURATION)
    if not isinstance(platform, dict) or not platform.get("product_family_code"):
        missing.append(f"{PLATFORM_CONFIGURATION} (product_family_code)")
    if missing:
        raise RegistrationFailed(
            "Your LMS's OpenID configuration lacks: " + ", ".join(missing) + ".",
            hint="This LMS may not support LTI Dynamic Registration 1.0; register the tool manually (see /lti/config).",
        )
    issuer = configuration["issuer"]
    # LTI DR 1.0 §3.5.1: the configuration must come from the issuer itself, else anyone could
    # register a configuration claiming someone else's issuer.
    if origin_of(issuer) is None or origin_of(issuer) != origin_of(openid_configuration_url):
        raise RegistrationFailed(
            f"The LMS configuration names the issuer {issuer}, but it was served from "
            f"{origin_of(openid_configuration_url)}. The tool refuses a configuration that does not come "
            "from its issuer's own site.",
            hint="Start the registration from the LMS itself, not from a copied link.",
        )
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri", "registration_endpoint"):
        if not origin_of(configuration[name]):
            raise RegistrationFailed(f"The LMS configuration's {name} is not an http(s) URL.")
    if not isinstance(configuration["scopes_supported"], list):
        raise RegistrationFailed("The LMS configuration's scopes_supported is not a list.")
    algorithms = configuration.get("id_token_signing_alg_values_supported")
    if isinstance(algorithms, list) and "RS256" not in algorithms:
        raise RegistrationFailed("Your LMS does not sign launches with RS256, which LTI 1.3 requires.")


def _post_client_registration(configuration: dict, body: dict, registration_token: str | None) -> dict:
    headers = {"Accept": "application/json"}
    if registration_token:
        headers["Authorization"] = f"Bearer {registration_token}"
    try:
        response = lms_session().post(configuration["registration_endpoint"], json=body, headers=headers)
    except requests.RequestException as error:
        raise RegistrationFailed(
            f"The tool could not reach your LMS's registration endpoint ({error.__class__.__name__}).",
            status=502,
        ) from None
    if response.status_code not in (200, 201):
        detail = _platform_error_detail(response)
        raise RegistrationFailed(
            f"Your LMS refused the registration (HTTP {response.status_code})" + (f": {detail}" if detail else "."),
            hint="Registration links work once and expire: start the registration again from the LMS.",
        )
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict) or not data.get("client_id"):
        raise RegistrationFailed("Your LMS accepted the registration but did not return a client id.", status=502)
    return data


def _platform_error_detail(response: requests.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text.strip()[:300]
    if isinstance(data, dict):
        parts = [str(data[k]) for k in ("error", "error_description", "message") if data.get(k)]
        return "; ".join(parts)[:300]
    return ""


def dynamic_registration(
    openid_configuration_url: str,
    registration_token: str | None,
    tool: ToolDescription | None = None,
    invite: RegistrationInvite | None = None,
) -> DynamicRegistrationResult:
    """Register the tool with a platform (LTI DR 1.0 §3): read its configuration, post ours, store the answer.

    With an invite (production), the invite remembers the registration it produced.
    """
    tool = tool or describe_tool()
    configuration = fetch_platform_configuration(openid_configuration_url, registration_token)
    body = client_registration_request(tool, configuration)
    answer = _post_client_registration(configuration, body, registration_token)
    tool_configuration = answer.get(TOOL_CONFIGURATION) or {}
    deployment_id = tool_configuration.get("deployment_id")
    platform = configuration[PLATFORM_CONFIGURATION]
    product = platform.get("product_family_code")
    issuer = configuration["issuer"]
    registration = register_platform(
        issuer=issuer,
        client_id=str(answer["client_id"]),
        auth_login_url=configuration["authorization_endpoint"],
        auth_token_url=configuration["token_endpoint"],
        key_set_url=configuration["jwks_uri"],
        auth_audience=configuration.get("authorization_server"),
        deployment_ids=[str(deployment_id)] if deployment_id else [],
        name=f"{product} at {urlsplit(issuer).netloc}",
        product_family_code=product,
    )
    deployment = next((d for d in registration.deployments if d.deployment_id == str(deployment_id)), None)
    if invite is not None:
        invite.registration_id = registration.id
        db.session.flush()
    return DynamicRegistrationResult(
        registration=registration,
        deployment=deployment,
        platform_name=platform.get("product_family_code") or issuer,
        product_family_code=product,
    )
