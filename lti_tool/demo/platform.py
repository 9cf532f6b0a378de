"""The demo LMS: a small LTI 1.3 platform living in the same app as the tool (development only).

It does what an LMS does, through real signed messages (LTI 1.3 Core, Security Framework, Deep Linking 2.0,
AGS 2.0, NRPS 2.0): its own RSA key (`instance/demo_platform_key.pem`, 0600), an OIDC authorization
endpoint that answers the tool's login with a signed id_token, an OAuth 2 token endpoint for the tool's
service calls, a gradebook (line items and scores) and a roster.

The tool and the platform share one process, so the platform reads the tool's public keys from the key
store directly and the registration carries the platform's key set itself: neither fetches the other over
HTTP from inside a request (a single-threaded server would wait for itself).
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import current_app, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from lti_tool.core.keys import public_jwk
from lti_tool.extensions import db
from lti_tool.lti import claims as c
from lti_tool.lti.models import Deployment, Registration

CLIENT_ID = "demo-client"
DEPLOYMENT_ID = "demo-deployment"
PLATFORM_NAME = "Demo LMS"
KEY_FILE = "demo_platform_key.pem"
COURSE_FILE = "demo_course.json"
DEFAULT_ORIGIN = "http://127.0.0.1:5000"  # `make run`'s default HOST and PORT (it passes its own to `demo setup`)
ID_TOKEN_LIFETIME = 300
ACCESS_TOKEN_LIFETIME = 3600
FORM_TOKEN_MAX_AGE = 24 * 3600  # a course page left open for a day still resets

LIS = "http://purl.imsglobal.org/vocab/lis/v2/"
COURSE = {
    "id": "demo-course",
    "label": "DEMO101",
    "title": "Demo Course",
    "type": [LIS + "course#CourseOffering"],
}

SCOPE_LINEITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
SCOPE_LINEITEM_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
SCOPE_RESULT_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
SCOPE_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
SCOPE_NRPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
AGS_SCOPES = [SCOPE_LINEITEM, SCOPE_LINEITEM_READONLY, SCOPE_RESULT_READONLY, SCOPE_SCORE]
ALL_SCOPES = {*AGS_SCOPES, SCOPE_NRPS}

DEEP_LINKING_RESPONSE = "LtiDeepLinkingResponse"
CONTENT_ITEMS = "https://purl.imsglobal.org/spec/lti-dl/claim/content_items"
DEEP_LINKING_DATA = "https://purl.imsglobal.org/spec/lti-dl/claim/data"

COLUMN_MAXIMUM = 100.0  # a new gradebook column's maximum when none is given, as in Moodle


class DemoError(Exception):
    """A message the demo platform refuses; shown to the person with its reason."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Persona:
    key: str
    sub: str
    given_name: str
    family_name: str
    roles: tuple[str, ...]
    label: str
    in_roster: bool = True

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    @property
    def email(self) -> str:
        return f"{self.given_name.lower()}.{self.family_name.lower()}@demo.example"


PERSONAS = {
    p.key: p
    for p in (
        Persona("educator", "demo-educator", "Ellie", "Educator", (LIS + "membership#Learner",), "educator"),
        Persona("instructor", "demo-instructor", "Ian", "Instructor", (LIS + "membership#Instructor",), "instructor"),
        Persona(
            "assessor",
            "demo-assessor",
            "Asha",
            "Assessor",
            # A sub-role comes with its principal role (LTI 1.3 Core §A.2.3.1).
            (LIS + "membership#Instructor", LIS + "membership/Instructor#TeachingAssistant"),
            "assessor",
        ),
        # Two more assessors, so that one person can walk the double-blind path: two independent scorings,
        # and a third assessor who decides when they disagree (each with another assessor role).
        Persona("assessor-2", "demo-assessor-2", "Bruno", "Bauer",
                (LIS + "membership#Instructor", LIS + "membership/Instructor#Grader"), "assessor 2"),
        Persona("assessor-3", "demo-assessor-3", "Carmen", "Castillo", (LIS + "membership#Mentor",), "assessor 3"),
        Persona("admin", "demo-admin", "Ada", "Admin", (LIS + "institution/person#Administrator",), "admin",
                in_roster=False),
    )
}


# -- where the platform is -----------------------------------------------------------------------------
def issuer_for(origin: str) -> str:
    return origin.rstrip("/") + "/demo"


def request_issuer() -> str:
    """The issuer of the platform as this request reached it (the origin the browser uses for /demo)."""
    return issuer_for(request.host_url)


def endpoint(issuer: str, path: str) -> str:
    return issuer + path


# -- the platform's key ----------------------------------------------------------------------------------
_key_lock = threading.Lock()


def _key_path() -> Path:
    return Path(current_app.instance_path) / KEY_FILE


def private_pem() -> str:
    """The platform's private key, generated into the instance folder (0600) on first use."""
    path = _key_path()
    with _key_lock:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
    return path.read_text()


def _public_pem() -> str:
    key = serialization.load_pem_private_key(private_pem().encode(), password=None)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def platform_jwk() -> dict:
    return public_jwk(_public_pem())


def platform_jwks() -> dict:
    return {"keys": [platform_jwk()]}


def sign(claims: dict) -> str:
    return jwt.encode(claims, private_pem(), algorithm="RS256", headers={"kid": platform_jwk()["kid"]})


# -- registration with the tool ------------------------------------------------------------------------
def ensure_registration(issuer: str) -> tuple[Registration, bool]:
    """Register the demo platform with the tool for this issuer (create or update). Flushes, never commits."""
    registration = db.session.scalar(
        db.select(Registration).where(Registration.issuer == issuer, Registration.client_id == CLIENT_ID)
    )
    created = registration is None
    if created:
        registration = Registration(issuer=issuer, client_id=CLIENT_ID)
        db.session.add(registration)
    _update(
        registration,
        name=PLATFORM_NAME,
        auth_login_url=endpoint(issuer, "/auth"),
        auth_token_url=endpoint(issuer, "/token"),
        key_set_url=endpoint(issuer, "/jwks"),
        key_set=platform_jwks(),  # the tool must not fetch /demo/jwks from inside its own request
        product_family_code="mcb-demo",
        is_active=True,
        manages_catalog=True,  # the newcomer's demo admin can try the catalog pages
    )
    db.session.flush()
    deployment = db.session.scalar(
        db.select(Deployment).where(
            Deployment.registration_id == registration.id, Deployment.deployment_id == DEPLOYMENT_ID
        )
    )
    if deployment is None:
        deployment = Deployment(registration_id=registration.id, deployment_id=DEPLOYMENT_ID)
        db.session.add(deployment)
        created = True
    _update(deployment, name="Demo deployment", is_active=True)
    db.session.flush()
    return registration, created


def _update(row, **values) -> None:
    """Set only what differs, so that visiting /demo does not rewrite the registration each time."""
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)


def demo_registrations() -> list[Registration]:
    return list(
        db.session.scalars(
            db.select(Registration).where(Registration.client_id == CLIENT_ID, Registration.issuer.like("%/demo"))
        )
    )


# -- the course: activities, line items, scores in a JSON file --------------------------------------------
_course_lock = threading.RLock()


def _course_path() -> Path:
    return Path(current_app.instance_path) / COURSE_FILE


def course_lock() -> threading.RLock:
    """Hold while reading, changing and saving the course (the dev server is threaded)."""
    return _course_lock


def _empty_course() -> dict:
    return {"activities": [], "lineitems": [], "scores": []}


def load_course() -> dict:
    with _course_lock:
        path = _course_path()
        if not path.exists():
            return _empty_course()
        return {**_empty_course(), **json.loads(path.read_text())}


def save_course(course: dict) -> None:
    with _course_lock:
        path = _course_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(course, indent=2))
        os.replace(tmp, path)


def _new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def add_lineitem(course: dict, data: dict) -> dict:
    item = {
        "id": _new_id("li"),
        "label": str(data.get("label") or "Untitled"),
        "scoreMaximum": float(data.get("scoreMaximum") or COLUMN_MAXIMUM),
        "resourceId": data.get("resourceId"),
        "tag": data.get("tag"),
        "resourceLinkId": data.get("resourceLinkId"),
    }
    course["lineitems"].append(item)
    return item


def add_activity(course: dict, title: str, slug: str | None, line_item: dict | None = None) -> dict:
    """Place an activity (an LTI resource link) in the course, with its gradebook column when given."""
    activity = {"id": _new_id("rl"), "title": title, "custom": {"microcredential": slug} if slug else {}}
    if line_item is not None:
        item = add_lineitem(course, {**line_item, "resourceLinkId": activity["id"]})
        activity["lineitem_id"] = item["id"]
    course["activities"].append(activity)
    return activity


def seed_course() -> dict:
    """At first start: one activity per catalog micro-credential, or one to set up on first launch."""
    with _course_lock:
        if _course_path().exists():
            return load_course()
        course = _empty_course()
        for mc in catalog_microcredentials():
            line_item = {"label": mc.title, "scoreMaximum": COLUMN_MAXIMUM, "resourceId": mc.slug,
                         "tag": "microcredential"}
            add_activity(course, mc.title, mc.slug, line_item)
        if not course["activities"]:
            add_activity(course, "Micro-credential (chosen on first launch)", None, {"label": "Micro-credential"})
        save_course(course)
        return course


def catalog_microcredentials() -> list:
    """The catalog's micro-credentials, or none while the catalog cannot be read (the demo still starts)."""
    try:
        from lti_tool.catalog.services import list_microcredentials
    except ImportError:
        return []
    try:
        return list(list_microcredentials())
    except Exception:  # noqa: BLE001  the demo must start even when the catalog is not loaded yet
        current_app.logger.warning("demo: the catalog could not be read (not loaded yet?)")
        return []


def reset_course() -> None:
    with _course_lock:
        _course_path().unlink(missing_ok=True)


def find_activity(course: dict, activity_id: str) -> dict | None:
    return next((a for a in course["activities"] if a["id"] == activity_id), None)


def find_lineitem(course: dict, lineitem_id: str) -> dict | None:
    return next((li for li in course["lineitems"] if li["id"] == lineitem_id), None)


def record_score(course: dict, lineitem_id: str, score: dict) -> dict:
    """Keep the latest score of each user on a line item (AGS 2.0 §3.4)."""
    entry = {"lineitem_id": lineitem_id, **{k: score.get(k) for k in (
        "userId", "scoreGiven", "scoreMaximum", "comment", "activityProgress", "gradingProgress", "timestamp")}}
    course["scores"] = [
        s for s in course["scores"] if not (s["lineitem_id"] == lineitem_id and s["userId"] == entry["userId"])
    ]
    course["scores"].append(entry)
    return entry


def gradebook(course: dict) -> list[dict]:
    """Rows of (person, line item, score) for the course page."""
    by_sub = {p.sub: p for p in PERSONAS.values()}
    rows = []
    for score in course["scores"]:
        item = find_lineitem(course, score["lineitem_id"]) or {"label": score["lineitem_id"]}
        person = by_sub.get(score["userId"])
        rows.append({"person": person.name if person else score["userId"], "label": item["label"], **score})
    return rows


# -- signed values the platform gives out and reads back ------------------------------------------------
def _serializer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt)


def message_hint(persona: str, message_type: str, activity_id: str | None) -> str:
    return _serializer("demo-lti-message-hint").dumps({"p": persona, "m": message_type, "a": activity_id})


def read_message_hint(hint: str | None) -> dict:
    try:
        return _serializer("demo-lti-message-hint").loads(hint or "", max_age=3600)
    except BadSignature:
        raise DemoError("lti_message_hint is missing, forged or expired: launch again from /demo.") from None


def form_token() -> str:
    """The value the demo's own forms carry: signed, so no one makes it up, and read from the page, which another
    site cannot do. With the same-origin check (`views.require_own_form`) it protects the demo's forms as the
    launch reference protects the tool's."""
    return _serializer("demo-form").dumps("demo")


def check_form_token(token: str | None) -> None:
    try:
        _serializer("demo-form").loads(token or "", max_age=FORM_TOKEN_MAX_AGE)
    except BadSignature:
        raise DemoError("This form did not come from the demo's own page (or the page is more than a day old), so "
                        "nothing was changed: reload the course page and try again.", status=403) from None


def access_token(scopes: list[str]) -> str:
    return _serializer("demo-access-token").dumps({"scopes": scopes})


def token_scopes(token: str) -> set[str]:
    try:
        return set(_serializer("demo-access-token").loads(token, max_age=ACCESS_TOKEN_LIFETIME)["scopes"])
    except BadSignature:
        raise DemoError("The access token is not valid or has expired.", status=401) from None


def deep_linking_data() -> str:
    return _serializer("demo-deep-linking-data").dumps({"n": secrets.token_urlsafe(8)})


def check_deep_linking_data(data: object) -> None:
    try:
        _serializer("demo-deep-linking-data").loads(data if isinstance(data, str) else "", max_age=3600)
    except BadSignature:
        raise DemoError("The deep linking response does not carry the data the platform sent.") from None


# -- messages -------------------------------------------------------------------------------------------
def login_url(issuer: str, persona: str, message_type: str, activity_id: str | None) -> str:
    """The tool's third-party initiated login URL (LTI 1.3 Core §5.1.1): the iframe's src."""
    from lti_tool.core.urls import external_url

    query = {
        "iss": issuer,
        "login_hint": PERSONAS[persona].sub,
        "target_link_uri": external_url("lti.launch"),
        "lti_message_hint": message_hint(persona, message_type, activity_id),
        "client_id": CLIENT_ID,
        "lti_deployment_id": DEPLOYMENT_ID,
    }
    return external_url("lti.login") + "?" + urlencode(query)


def check_authorization_request(params, issuer: str) -> dict:
    """The OIDC authorization request from the tool (Security Framework §5.1.1.2); the message hint when valid."""
    from lti_tool.core.urls import external_url

    expected = {
        "scope": "openid",
        "response_type": "id_token",
        "response_mode": "form_post",
        "prompt": "none",
        "client_id": CLIENT_ID,
        "redirect_uri": external_url("lti.launch"),
    }
    for name, value in expected.items():
        if params.get(name) != value:
            raise DemoError(f"The authorization request has {name}={params.get(name)!r}; expected {value!r}.")
    if not params.get("nonce"):
        raise DemoError("The authorization request has no nonce.")
    hint = read_message_hint(params.get("lti_message_hint"))
    persona = PERSONAS.get(hint["p"])
    if persona is None or params.get("login_hint") != persona.sub:
        raise DemoError("login_hint does not name the person who launched.")
    return hint


def id_token(issuer: str, hint: dict, nonce: str) -> str:
    """The signed launch (LTI 1.3 Core §5.3–5.4, AGS and NRPS claims, Deep Linking §4.4)."""
    from lti_tool.core.urls import external_url

    persona = PERSONAS[hint["p"]]
    now = int(time.time())
    claims = {
        "iss": issuer,
        "aud": CLIENT_ID,
        "azp": CLIENT_ID,
        "sub": persona.sub,
        "exp": now + ID_TOKEN_LIFETIME,
        "iat": now,
        "nonce": nonce,
        "name": persona.name,
        "given_name": persona.given_name,
        "family_name": persona.family_name,
        "email": persona.email,
        c.MESSAGE_TYPE: hint["m"],
        c.VERSION: "1.3.0",
        c.DEPLOYMENT_ID: DEPLOYMENT_ID,
        c.TARGET_LINK_URI: external_url("lti.launch"),
        c.ROLES: list(persona.roles),
        c.CONTEXT: COURSE,
        c.TOOL_PLATFORM: {"guid": issuer, "name": PLATFORM_NAME, "product_family_code": "mcb-demo",
                          "version": "1.0"},
        c.LAUNCH_PRESENTATION: {"document_target": "iframe", "return_url": endpoint(issuer, "/return")},
        c.NRPS: {"context_memberships_url": endpoint(issuer, "/memberships"), "service_versions": ["2.0"]},
    }
    ags = {"scope": AGS_SCOPES, "lineitems": endpoint(issuer, "/lineitems")}
    if hint["m"] == c.DEEP_LINKING_REQUEST:
        claims[c.DEEP_LINKING_SETTINGS] = {
            "deep_link_return_url": endpoint(issuer, "/deep-link-return"),
            "accept_types": ["ltiResourceLink"],
            "accept_presentation_document_targets": ["iframe", "window"],
            "accept_multiple": False,
            "auto_create": True,
            "title": "Add a micro-credential",
            "data": deep_linking_data(),
        }
    else:
        course = load_course()
        activity = find_activity(course, hint.get("a") or "")
        if activity is None:
            raise DemoError("That activity is no longer in the course.", status=404)
        claims[c.RESOURCE_LINK] = {"id": activity["id"], "title": activity["title"]}
        if activity.get("custom"):
            claims[c.CUSTOM] = dict(activity["custom"])
        if activity.get("lineitem_id"):
            ags["lineitem"] = endpoint(issuer, f"/lineitems/{activity['lineitem_id']}")
    claims[c.AGS] = ags
    return sign(claims)


def _tool_key(token: str):
    """The tool's public key for a JWT it signed, read from its key store (same process)."""
    from lti_tool.core.keys import key_store

    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.InvalidTokenError as error:
        raise DemoError(f"Not a JWT: {error}.") from error
    keys = key_store().jwks()["keys"]
    jwk = next((k for k in keys if k.get("kid") == kid), None)
    if jwk is None:
        raise DemoError("The tool signed with a key it does not publish.", status=401)
    return jwt.PyJWK(jwk, algorithm="RS256")


def verify_tool_jwt(token: str, audience: str | list[str], **options) -> dict:
    try:
        return jwt.decode(
            token,
            key=_tool_key(token),
            algorithms=["RS256"],
            audience=audience,
            issuer=CLIENT_ID,
            leeway=current_app.config["LTI_CLOCK_SKEW_SECONDS"],
            options={"require": ["exp", "iat", "iss", "aud"], **options},
        )
    except jwt.InvalidTokenError as error:
        raise DemoError(f"The tool's JWT is not valid: {error}.", status=401) from error


def check_client_assertion(form) -> list[str]:
    """OAuth 2 client credentials with a JWT assertion (Security Framework §4.1); the granted scopes."""
    if form.get("grant_type") != "client_credentials":
        raise DemoError("unsupported_grant_type")
    if form.get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
        raise DemoError("invalid_client: client_assertion_type must be jwt-bearer", status=401)
    token_urls = [r.auth_token_url for r in demo_registrations()]
    claims = verify_tool_jwt(form.get("client_assertion") or "", token_urls)
    if claims.get("sub") != CLIENT_ID:
        raise DemoError("invalid_client: sub must be the client id", status=401)
    requested = (form.get("scope") or "").split()
    granted = [s for s in requested if s in ALL_SCOPES]
    if not granted:
        raise DemoError("invalid_scope")
    return granted


def place_deep_linked_items(token: str) -> list[dict]:
    """Read the tool's LtiDeepLinkingResponse (Deep Linking 2.0 §4.5) and place its resource links."""
    issuers = [r.issuer for r in demo_registrations()]
    claims = verify_tool_jwt(token, issuers, require=["exp", "iat", "iss", "aud", "nonce"])
    if claims.get(c.MESSAGE_TYPE) != DEEP_LINKING_RESPONSE:
        raise DemoError("Not an LtiDeepLinkingResponse.")
    if claims.get(c.VERSION) != "1.3.0" or claims.get(c.DEPLOYMENT_ID) != DEPLOYMENT_ID:
        raise DemoError("Wrong LTI version or deployment id in the deep linking response.")
    check_deep_linking_data(claims.get(DEEP_LINKING_DATA))
    items = [i for i in claims.get(CONTENT_ITEMS) or [] if i.get("type") == "ltiResourceLink"]
    if len(items) > 1:
        raise DemoError("The platform accepts one item at a time (accept_multiple is false).")
    placed = []
    with _course_lock:
        course = load_course()
        for item in items:
            custom = item.get("custom") or {}
            placed.append(add_activity(course, item.get("title") or "Untitled", custom.get("microcredential"),
                                       item.get("lineItem")))
        save_course(course)
    return placed


def memberships(issuer: str) -> dict:
    """The NRPS membership container (NRPS 2.0 §2.2)."""
    return {
        "id": endpoint(issuer, "/memberships"),
        "context": {k: COURSE[k] for k in ("id", "label", "title")},
        "members": [
            {
                "status": "Active",
                "user_id": p.sub,
                "name": p.name,
                "given_name": p.given_name,
                "family_name": p.family_name,
                "email": p.email,
                "roles": list(p.roles),
            }
            for p in PERSONAS.values()
            if p.in_roster
        ],
    }


def lineitem_json(issuer: str, item: dict) -> dict:
    return {k: v for k, v in {**item, "id": endpoint(issuer, f"/lineitems/{item['id']}")}.items() if v is not None}
