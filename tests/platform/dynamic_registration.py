"""The platform side of LTI Dynamic Registration 1.0, for tests: written from the spec, independent of the tool.

A platform admin pastes the tool's registration URL; the platform opens it with `openid_configuration`
(this app's /.well-known/openid-configuration) and a single-use `registration_token`. The tool reads the
configuration and POSTs its client registration to /connect/register (LTI DR 1.0 §3.4–§3.6), which this
module validates, records and answers with a client id and a deployment id.

Never import the tool here: the point is to check it against the spec, not against itself.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, Flask, jsonify, request

PLATFORM_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-platform-configuration"
TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"
SUPPORTED_SCOPES = [
    "openid",
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
    "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
]
SUPPORTED_MESSAGES = ("LtiResourceLinkRequest", "LtiDeepLinkingRequest")


@dataclass
class RegistrationPlatform:
    """State of the test platform; tests adjust its behaviour through the attributes."""

    product_family_code: str = "test-lms"
    issuer_override: str | None = None  # claim another issuer than the platform's own origin
    configuration_overrides: dict = field(default_factory=dict)  # a value of None removes the field
    refuse_with: tuple[int, dict] | None = None  # make /connect/register answer this (status, body)
    deployment_id: str | None = "deployment-1"
    tokens: dict[str, bool] = field(default_factory=dict)  # registration token -> already used
    registrations: list[dict] = field(default_factory=list)  # what tools posted, as accepted
    refusals: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        self.issuer_override = None
        self.configuration_overrides = {}
        self.refuse_with = None
        self.deployment_id = "deployment-1"
        self.tokens.clear()
        self.registrations.clear()
        self.refusals.clear()

    def issue_token(self) -> str:
        """A single-use registration token, as the platform puts in the registration URL."""
        token = secrets.token_urlsafe(24)
        self.tokens[token] = False
        return token

    def registration_url(self, tool_register_url: str, platform_url: str, token: str | None = None) -> str:
        """The URL the platform opens: the tool's registration URL plus openid_configuration and the token."""
        params = {"openid_configuration": platform_url.rstrip("/") + "/.well-known/openid-configuration"}
        if token:
            params["registration_token"] = token
        separator = "&" if "?" in tool_register_url else "?"
        return tool_register_url + separator + urlencode(params)


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    return header[len("Bearer ") :].strip() if header.startswith("Bearer ") else None


def _error(status: int, error: str, description: str):
    return jsonify(error=error, error_description=description), status


def _is_url(value) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def validate_client_registration(body, supported_scopes: list[str]) -> str | None:
    """What is wrong with a tool's registration request (LTI DR 1.0 §3.5), or None."""
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    expected = {
        "application_type": "web",
        "token_endpoint_auth_method": "private_key_jwt",
    }
    for name, value in expected.items():
        if body.get(name) != value:
            return f"{name} must be {value!r}"
    if body.get("response_types") != ["id_token"]:
        return "response_types must be ['id_token']"
    if set(body.get("grant_types") or ()) != {"implicit", "client_credentials"}:
        return "grant_types must be implicit and client_credentials"
    for name in ("initiate_login_uri", "jwks_uri"):
        if not _is_url(body.get(name)):
            return f"{name} must be a URL"
    redirect_uris = body.get("redirect_uris")
    if not isinstance(redirect_uris, list) or not redirect_uris or not all(_is_url(u) for u in redirect_uris):
        return "redirect_uris must be a non-empty list of URLs"
    if not isinstance(body.get("client_name"), str) or not body["client_name"]:
        return "client_name is required"
    if "logo_uri" in body and not _is_url(body["logo_uri"]):
        return "logo_uri must be a URL"
    scopes = (body.get("scope") or "").split()
    unknown = [s for s in scopes if s not in supported_scopes]
    if unknown:
        return f"unsupported scopes: {' '.join(unknown)}"
    tool = body.get(TOOL_CONFIGURATION)
    if not isinstance(tool, dict):
        return f"{TOOL_CONFIGURATION} is required"
    domain = tool.get("domain")
    if not isinstance(domain, str) or not domain:
        return "the tool configuration's domain is required"
    if not _is_url(tool.get("target_link_uri")):
        return "the tool configuration's target_link_uri must be a URL"
    # Moodle compares host[:port] with the domain (domain_targetlinkuri_mismatch).
    for url in [tool["target_link_uri"], *redirect_uris, body["initiate_login_uri"]]:
        if urlsplit(url).netloc != domain:
            return f"{url} is not in the tool's domain {domain}"
    messages = tool.get("messages", [])
    if not isinstance(messages, list):
        return "messages must be a list"
    for message in messages:
        if not isinstance(message, dict) or message.get("type") not in SUPPORTED_MESSAGES:
            return f"unsupported message {message!r}"
        if "target_link_uri" in message and urlsplit(message["target_link_uri"]).netloc != domain:
            return "a message's target_link_uri is not in the tool's domain"
    if "claims" in tool and not isinstance(tool["claims"], list):
        return "claims must be a list"
    return None


def create_blueprint(platform: RegistrationPlatform) -> Blueprint:
    bp = Blueprint("dynamic_registration_platform", __name__)

    def base_url() -> str:
        return request.host_url.rstrip("/")

    @bp.get("/.well-known/openid-configuration")
    def openid_configuration():
        token = _bearer()
        if token is not None and token not in platform.tokens:
            return _error(401, "invalid_token", "unknown registration token")
        base = base_url()
        configuration = {
            "issuer": platform.issuer_override or base,
            "authorization_endpoint": base + "/auth",
            "token_endpoint": base + "/token",
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
            "jwks_uri": base + "/jwks",
            "registration_endpoint": base + "/connect/register",
            "scopes_supported": SUPPORTED_SCOPES,
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public", "pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "claims_supported": ["sub", "iss", "name", "given_name", "family_name", "email"],
            "authorization_server": base + "/token-audience",
            PLATFORM_CONFIGURATION: {
                "product_family_code": platform.product_family_code,
                "version": "1.0",
                "messages_supported": [{"type": t} for t in SUPPORTED_MESSAGES],
                "variables": [],
            },
        }
        for name, value in platform.configuration_overrides.items():
            if value is None:
                configuration.pop(name, None)
            else:
                configuration[name] = value
        return jsonify(configuration)

    @bp.post("/connect/register")
    def register():
        token = _bearer()
        with platform._lock:
            if not token or token not in platform.tokens:
                platform.refusals.append("missing or unknown token")
                return _error(401, "invalid_token", "a registration token is required")
            if platform.tokens[token]:
                platform.refusals.append("token reused")
                return _error(401, "invalid_token", "this registration token was already used")
            platform.tokens[token] = True
        if platform.refuse_with is not None:
            status, body = platform.refuse_with
            platform.refusals.append("refused by the test")
            return jsonify(body), status
        body = request.get_json(silent=True)
        problem = validate_client_registration(body, SUPPORTED_SCOPES)
        if problem:
            platform.refusals.append(problem)
            return _error(400, "invalid_client_metadata", problem)
        answer = dict(body)
        answer["client_id"] = "client-" + secrets.token_hex(6)
        tool = dict(answer[TOOL_CONFIGURATION])
        if platform.deployment_id:
            tool["deployment_id"] = platform.deployment_id
        answer[TOOL_CONFIGURATION] = tool
        platform.registrations.append({"request": body, "answer": answer})
        return jsonify(answer), 200

    return bp


def create_app(platform: RegistrationPlatform) -> Flask:
    """A tiny stand-alone platform app serving only the registration endpoints."""
    app = Flask(__name__)
    app.register_blueprint(create_blueprint(platform))
    return app
