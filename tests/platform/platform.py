"""An independent LTI 1.3 platform for the tests, written from the specs only (never imports lti_tool).

It plays the LMS: the OIDC authorization endpoint that answers the tool's login with a signed
id_token (LTI 1.3 Core §5.1, Security Framework §5.1.1), its key set with rotation, the deep
linking return endpoint that verifies the tool's response (Deep Linking 2.0 §4.2) and the
`return_url` that records `lti_errormsg`. AGS, NRPS and the token endpoint come from
`lms_services`; Dynamic Registration from `dynamic_registration`.

Like Moodle's, its `lti_message_hint` is single-use: the authorization endpoint forgets a launch on its first
use, and a second login with the same hint ends on an "Invalid request" page. A tool that needs a fresh launch
must go back through the LMS: the launch's `return_url` (without a message) leads to the activity page, which
launches the tool again with a new hint, as an LMS activity page does.

Launches are resource link, deep linking or submission review requests (LTI Submission Review 1.0,
`LtiSubmissionReviewRequest`: the resource link, the AGS claim naming its `lineitem`, and `for_user`, the
person whose work is reviewed).

A test decides what the next launch says (`platform.next_launch(...)`) and may make the platform
misbehave on purpose — expired tokens, foreign keys, wrong audience — to see the tool refuse it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from html import escape
from urllib.parse import urlencode, urlsplit

import jwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, abort, jsonify, redirect, request

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"
AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS_CLAIM = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
FOR_USER_CLAIM = "https://purl.imsglobal.org/spec/lti/claim/for_user"
ROLE = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
INSTRUCTOR_SUB_ROLE = "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#"
INSTITUTION_ROLE = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#"

ROLES = {
    "learner": [ROLE + "Learner", INSTITUTION_ROLE + "Student"],
    "instructor": [ROLE + "Instructor", INSTITUTION_ROLE + "Faculty"],
    # A sub-role of Instructor (LIS v2); Canvas sends both, and the sub-role narrows the duty.
    "assessor": [ROLE + "Instructor", INSTRUCTOR_SUB_ROLE + "TeachingAssistant"],
    "admin": [INSTITUTION_ROLE + "Administrator", ROLE + "Instructor"],
    "guest": [ROLE + "Guest"],
    "learner-2": [ROLE + "Learner", INSTITUTION_ROLE + "Student"],
    # The Grader sub-role alone, without its principal role: LIS v2 allows it, some platforms send it so.
    "assessor-2": [INSTRUCTOR_SUB_ROLE + "Grader", INSTITUTION_ROLE + "Staff"],
    "assessor-3": [ROLE + "Mentor"],
    # No role in the course at all: only an organization's grant (in the tool) can make this person an assessor.
    "org-assessor": [INSTITUTION_ROLE + "Staff"],
    "instructor-2": [ROLE + "Instructor", INSTITUTION_ROLE + "Faculty"],
}

AGS_SCOPES = [
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
]


def _b64(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class PlatformKey:
    """An RSA key pair of the platform with its key id."""

    kid: str
    private_key: rsa.RSAPrivateKey = field(repr=False)

    @classmethod
    def generate(cls) -> PlatformKey:
        return cls(kid=f"platform-{uuid.uuid4().hex[:12]}", private_key=rsa.generate_private_key(65537, 2048))

    @property
    def pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    @property
    def public_jwk(self) -> dict:
        numbers = self.private_key.public_key().public_numbers()
        return {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.kid, "n": _b64(numbers.n), "e": _b64(numbers.e)}


@dataclass
class LaunchPlan:
    """What the platform will put in the next id_token, and how it may misbehave."""

    person: str = "learner"
    message_type: str = "LtiResourceLinkRequest"
    resource_link_id: str = "activity-1"
    context_id: str = "course-1"
    custom: dict | None = None
    claims: dict = field(default_factory=dict)  # merged over the standard claims
    remove_claims: tuple[str, ...] = ()
    headers: dict = field(default_factory=dict)  # JWT header overrides (kid, alg)
    signing_key: PlatformKey | None = None  # a key the platform does not publish, say
    algorithm: str = "RS256"
    lifetime: int = 300
    issued_at_offset: int = 0
    echo_nonce: bool = True
    roles: list[str] | None = None  # instead of ROLES[person]
    lineitem: str | None = None  # a line item URL (or id in the services) for the AGS claim's `lineitem`
    for_user: str | None = None  # a PEOPLE key: whose submission a submission review launch shows


@dataclass
class Person:
    sub: str
    given_name: str
    family_name: str
    email: str

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"


PEOPLE = {
    "learner": Person("user-learner-1", "Ada", "Lovelace", "ada@school.example"),
    "instructor": Person("user-instructor-1", "Grace", "Hopper", "grace@school.example"),
    "assessor": Person("user-assessor-1", "Alan", "Turing", "alan@school.example"),
    "admin": Person("user-admin-1", "Edsger", "Dijkstra", "edsger@school.example"),
    "guest": Person("user-guest-1", "Guy", "Guest", "guest@school.example"),
    # Names found in no page of the tool, so a blindness test can search any response for them.
    "learner-2": Person("user-learner-2", "Katherine", "Johnson", "katherine.johnson@school.example"),
    "assessor-2": Person("user-assessor-2", "Dorothy", "Vaughan", "dorothy.vaughan@school.example"),
    "assessor-3": Person("user-assessor-3", "Annie", "Easley", "annie.easley@school.example"),
    "org-assessor": Person("user-org-assessor-1", "Barbara", "Liskov", "barbara.liskov@school.example"),
    "instructor-2": Person("user-instructor-2", "Margaret", "Hamilton", "margaret.hamilton@school.example"),
}

SUBMISSION_REVIEW_REQUEST = "LtiSubmissionReviewRequest"


class TestPlatform:
    """The platform's state: keys, the tool it knows, launch plans and everything it received."""

    __test__ = False  # not a pytest class

    def __init__(self, client_id: str = "tool-client-1", deployment_id: str = "1"):
        self.base_url = ""
        self.client_id = client_id
        self.deployment_id = deployment_id
        self.keys: list[PlatformKey] = [PlatformKey.generate()]
        self.tool_login_url = ""
        self.tool_launch_url = ""
        self.tool_jwks_url = ""
        self.jwks_requests = 0
        self.plans: dict[str, LaunchPlan] = {}
        self.used_hints: set[str] = set()  # message hints already spent at /auth (single-use, as Moodle's)
        self.sessions: dict[str, LaunchPlan] = {}  # sesskey of a return URL -> the launch it came from
        self.issued_tokens: list[str] = []
        self.auth_errors: list[str] = []
        self.deep_link_responses: list[dict] = []
        self.returns: list[dict] = []
        self.lock = threading.Lock()
        self.app = None  # the Flask app serving this platform
        self.services = None  # its LmsServices (token, AGS, NRPS)

    # -- keys -------------------------------------------------------------------------------------
    @property
    def signing_key(self) -> PlatformKey:
        return self.keys[-1]

    def rotate_key(self, keep_old: bool = True) -> PlatformKey:
        """A new signing key; the old one stays published unless keep_old is False."""
        new = PlatformKey.generate()
        self.keys = [*self.keys, new] if keep_old else [new]
        return new

    def jwks(self) -> dict:
        return {"keys": [key.public_jwk for key in self.keys]}

    # -- URLs the tool needs ------------------------------------------------------------------------
    @property
    def issuer(self) -> str:
        return self.base_url

    @property
    def tool_origin(self) -> str:
        parts = urlsplit(self.tool_launch_url)
        return f"{parts.scheme}://{parts.netloc}"

    def forget(self) -> None:
        """Every plan, spent hint and session: a test starts with an LMS that remembers no launch."""
        with self.lock:
            self.plans.clear()
            self.used_hints.clear()
            self.sessions.clear()

    def course_page_url(self, login: dict, storage: bool = False) -> str:
        """The LMS page that frames a launch (the browser tests open it)."""
        query = dict(login, storage="1") if storage else login
        return f"{self.base_url}/course/{login['lti_message_hint']}?" + urlencode(query)

    @property
    def auth_url(self) -> str:
        return self.base_url + "/auth"

    @property
    def jwks_url(self) -> str:
        return self.base_url + "/jwks"

    @property
    def token_url(self) -> str:
        return self.base_url + "/token"

    @property
    def return_url(self) -> str:
        """The return endpoint; each launch's `return_url` adds its course, activity and a session key."""
        return self.base_url + "/return"

    def launch_return_url(self, plan: LaunchPlan) -> str:
        """`launch_presentation.return_url` as Moodle builds it (`mod/lti/return.php?course=&instanceid=&sesskey=`).

        Moodle ties the sesskey to the person's LMS session; this platform has no sessions, so the key names the
        launch whose person and activity the return page relaunches."""
        sesskey = secrets.token_urlsafe(12)
        with self.lock:
            self.sessions[sesskey] = plan
        query = {"course": plan.context_id, "instanceid": plan.resource_link_id, "sesskey": sesskey}
        return self.return_url + "?" + urlencode(query)

    def activity_page_url(self, plan: LaunchPlan, sesskey: str) -> str:
        query = {"course": plan.context_id, "sesskey": sesskey}
        return f"{self.base_url}/activity/{plan.resource_link_id}?" + urlencode(query)

    def context_url(self, path: str) -> str:
        return self.base_url + path

    # -- launches --------------------------------------------------------------------------------
    def next_launch(self, **plan) -> tuple[dict, LaunchPlan]:
        """Plan a launch and return the third-party login request the LMS sends the browser to."""
        return self.launch_of(LaunchPlan(**plan))

    def launch_of(self, launch_plan: LaunchPlan) -> tuple[dict, LaunchPlan]:
        """The login request of a planned launch, under a fresh single-use message hint."""
        hint = secrets.token_urlsafe(12)
        with self.lock:
            self.plans[hint] = launch_plan
        person = PEOPLE[launch_plan.person]
        login = {
            "iss": self.issuer,
            "login_hint": person.sub,
            "target_link_uri": self.target_link_uri(launch_plan),
            "lti_message_hint": hint,
            "client_id": self.client_id,
            "lti_deployment_id": self.deployment_id,
        }
        return login, launch_plan

    def login_url(self, login: dict) -> str:
        return self.tool_login_url + "?" + urlencode(login)

    def roles_for(self, plan: LaunchPlan) -> list[str]:
        return list(plan.roles) if plan.roles is not None else list(ROLES[plan.person])

    def lineitem_url(self, plan: LaunchPlan) -> str | None:
        """The plan's line item as a URL: an id the services know becomes its URL; a URL stays as it is."""
        if plan.lineitem is None:
            return None
        if self.services is not None and plan.lineitem in self.services.line_items:
            return self.services.line_item_url(plan.lineitem)
        return plan.lineitem

    def submission_review_of(self, plan: LaunchPlan) -> dict:
        """The `submissionReview` the tool gave the plan's line item, if the services hold it."""
        url = self.lineitem_url(plan)
        if url is None or self.services is None:
            return {}
        item_id = self.services.item_id_of(url)
        if item_id is None:
            return {}
        return self.services.line_items[item_id]["data"].get("submissionReview") or {}

    def target_link_uri(self, plan: LaunchPlan) -> str:
        """Submission Review 1.0: the line item's `submissionReview.url` when it has one, else the launch URL."""
        if plan.message_type == SUBMISSION_REVIEW_REQUEST:
            return self.submission_review_of(plan).get("url") or self.tool_launch_url
        return self.tool_launch_url

    def for_user_claim(self, plan: LaunchPlan) -> dict:
        """Submission Review 1.0 `for_user`: `user_id` (required), then the optional name, email and roles."""
        key = plan.for_user or plan.person
        person = PEOPLE[key]
        return {
            "user_id": person.sub,
            "given_name": person.given_name,
            "family_name": person.family_name,
            "name": person.name,
            "email": person.email,
            "roles": list(ROLES[key]),
        }

    def claims_for(self, plan: LaunchPlan, nonce: str) -> dict:
        person = PEOPLE[plan.person]
        now = int(time.time()) + plan.issued_at_offset
        context = plan.context_id
        claims = {
            "iss": self.issuer,
            "aud": self.client_id,
            "azp": self.client_id,
            "sub": person.sub,
            "iat": now,
            "exp": now + plan.lifetime,
            "nonce": nonce,
            "name": person.name,
            "given_name": person.given_name,
            "family_name": person.family_name,
            "email": person.email,
            LTI + "message_type": plan.message_type,
            LTI + "version": "1.3.0",
            LTI + "deployment_id": self.deployment_id,
            LTI + "target_link_uri": self.target_link_uri(plan),
            LTI + "roles": self.roles_for(plan),
            LTI + "context": {
                "id": context,
                "label": "EDU-101",
                "title": "Professional Learning 2026",
                "type": ["http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering"],
            },
            LTI + "tool_platform": {"guid": "test-platform", "name": "Test LMS", "product_family_code": "moodle"},
            LTI + "launch_presentation": {"document_target": "iframe", "return_url": self.launch_return_url(plan)},
            NRPS_CLAIM: {
                "context_memberships_url": self.context_url(f"/memberships/{context}"),
                "service_versions": ["2.0"],
            },
            AGS_CLAIM: {"scope": AGS_SCOPES, "lineitems": self.context_url(f"/lineitems/{context}")},
        }
        lineitem = self.lineitem_url(plan)
        if lineitem is not None:
            claims[AGS_CLAIM]["lineitem"] = lineitem
        if plan.message_type in ("LtiResourceLinkRequest", SUBMISSION_REVIEW_REQUEST):
            claims[LTI + "resource_link"] = {"id": plan.resource_link_id, "title": "Micro-credential activity"}
            custom = dict(plan.custom or {})
            if plan.message_type == SUBMISSION_REVIEW_REQUEST:
                # Submission Review 1.0: the line item's `submissionReview.custom` joins the link's own parameters.
                custom.update(self.submission_review_of(plan).get("custom") or {})
                claims[FOR_USER_CLAIM] = self.for_user_claim(plan)
            if plan.custom is not None or custom:
                claims[LTI + "custom"] = custom
        else:
            claims[DL + "deep_linking_settings"] = {
                "deep_link_return_url": self.base_url + "/deep-link-return",
                "accept_types": ["ltiResourceLink"],
                "accept_presentation_document_targets": ["iframe", "window"],
                "accept_multiple": False,
                "data": "opaque-platform-data",
            }
        claims.update(plan.claims)
        for name in plan.remove_claims:
            claims.pop(name, None)
        return claims

    def sign(self, claims: dict, plan: LaunchPlan) -> str:
        key = plan.signing_key or self.signing_key
        headers = {"kid": key.kid, **plan.headers}
        if plan.algorithm == "none":
            return _unsigned_token(claims, headers)
        if plan.algorithm == "HS256":
            # The attack of a forged "HMAC keyed with the public key" token (RFC 8725 §2.1).
            secret = key.private_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            return _hmac_token(claims, headers, secret)
        return jwt.encode(claims, key.pem, algorithm=plan.algorithm, headers=headers)

    # -- what the tool sends back ------------------------------------------------------------------
    def verify_tool_jwt(self, token: str) -> dict:
        """Verify a JWT the tool signed, with the tool's published keys (fetched over HTTP)."""
        keys = requests.get(self.tool_jwks_url, timeout=5).json()["keys"]
        kid = jwt.get_unverified_header(token).get("kid")
        jwk = next((k for k in keys if k.get("kid") == kid), None)
        if jwk is None:
            raise ValueError(f"the tool's key set has no key {kid!r}")
        public_key = jwt.PyJWK(jwk).key
        return jwt.decode(token, public_key, algorithms=["RS256"], audience=self.issuer, issuer=self.client_id)


def _segment(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _unsigned_token(claims: dict, headers: dict) -> str:
    return f"{_segment({**headers, 'alg': 'none', 'typ': 'JWT'})}.{_segment(claims)}."


def _hmac_token(claims: dict, headers: dict, secret: bytes) -> str:
    signing_input = f"{_segment({**headers, 'alg': 'HS256', 'typ': 'JWT'})}.{_segment(claims)}"
    digest = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


AUTO_POST = """<!doctype html><html><body onload="document.forms[0].submit()">
<form method="post" action="{action}">{fields}<noscript><button>Continue</button></noscript></form>
</body></html>"""


def auto_post_form(action: str, fields: dict) -> str:
    inputs = "".join(
        f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">' for name, value in fields.items()
    )
    return AUTO_POST.format(action=escape(action), fields=inputs)


LMS_PAGE = """<!doctype html><html><head><title>Test LMS course</title>
<style>body{font-family:sans-serif;margin:0;background:#eef} header{padding:8px 16px;background:#335;color:#fff}
iframe{width:100%;height:900px;border:0;background:#fff}</style></head>
<body><header>Test LMS · Professional Learning 2026 · EDU-101</header>
<iframe id="tool" name="tool" title="Micro-credential activity" src="{{login_url}}"
  allow="fullscreen"></iframe>
<script>
// LTI Client Side postMessages: a key-value store the tool's frame may use instead of cookies.
(function () {
  var store = {}, toolOrigin = {{tool_origin}};
  window.addEventListener("message", function (event) {
    if (event.origin !== toolOrigin) return;
    var data = event.data || {};
    if (data.subject === "lti.put_data") {
      store[data.key] = data.value;
      event.source.postMessage({subject: "lti.put_data.response", message_id: data.message_id,
                                key: data.key, value: data.value}, event.origin);
    } else if (data.subject === "lti.get_data") {
      event.source.postMessage({subject: "lti.get_data.response", message_id: data.message_id,
                                key: data.key, value: store[data.key]}, event.origin);
    } else if (data.subject === "lti.capabilities") {
      event.source.postMessage({subject: "lti.capabilities.response", message_id: data.message_id,
        supported_messages: [{subject: "lti.put_data"}, {subject: "lti.get_data"}]}, event.origin);
    }
  });
})();
</script></body></html>"""


INVALID_REQUEST = """<!doctype html><html lang="en"><head><title>Error | Test LMS</title></head>
<body><main><h1>Invalid request</h1>
<p>This launch has already been used. Go back to the course and open the activity again.</p></main></body></html>"""

FRAME_BREAK_PAGE = """<!doctype html><html lang="en"><head><title>Micro-credential activity | Test LMS</title>
<script>window.top.location.replace(window.location.href);</script></head><body></body></html>"""

ACTIVITY_PAGE = """<!doctype html><html lang="en"><head><title>Micro-credential activity | Test LMS</title>
<script>if (window !== window.top) { window.top.location.replace(window.location.href); }</script>
<style>body{font-family:sans-serif;margin:0;background:#eef} header{padding:8px 16px;background:#335;color:#fff}
iframe{width:100%;height:900px;border:0;background:#fff}</style></head>
<body><header>Test LMS · Professional Learning 2026 · {{course}} · Micro-credential activity</header>
<main><iframe id="tool" name="tool" title="Micro-credential activity" src="{{login_url}}"
  allow="fullscreen"></iframe></main></body></html>"""


def create_platform_app(platform: TestPlatform) -> Flask:
    """The platform's HTTP face."""
    app = Flask("test_platform")
    app.extensions["test_platform"] = platform

    @app.get("/jwks")
    def jwks():
        with platform.lock:
            platform.jwks_requests += 1
        return jsonify(platform.jwks())

    @app.route("/auth", methods=["GET", "POST"])
    def auth():
        """OIDC authorization endpoint (LTI 1.3 Core §5.1.1.2, Security Framework §5.1.1.3)."""
        params = request.values
        problems = []
        expected = {"scope": "openid", "response_type": "id_token", "response_mode": "form_post", "prompt": "none"}
        for name, value in expected.items():
            if params.get(name) != value:
                problems.append(f"{name} must be {value!r}")
        if params.get("client_id") != platform.client_id:
            problems.append("unknown client_id")
        if params.get("redirect_uri") != platform.tool_launch_url:
            problems.append("redirect_uri is not the registered launch URL")
        for name in ("nonce", "state", "login_hint", "lti_message_hint"):
            if not params.get(name):
                problems.append(f"{name} is missing")
        hint = params.get("lti_message_hint", "")
        with platform.lock:
            # Single-use, as Moodle's mod/lti/auth.php: the first use removes the launch from the LMS session.
            plan = platform.plans.pop(hint, None)
            spent = plan is None and hint in platform.used_hints
            if plan is not None:
                platform.used_hints.add(hint)
        if spent:
            platform.auth_errors.append("lti_message_hint already used")
            return INVALID_REQUEST, 400
        if plan is None:
            problems.append("unknown lti_message_hint")
        elif params.get("login_hint") != PEOPLE[plan.person].sub:
            problems.append("login_hint does not match the user of this launch")
        if problems:
            platform.auth_errors.extend(problems)
            return "invalid_request: " + "; ".join(problems), 400
        nonce = params["nonce"] if plan.echo_nonce else secrets.token_urlsafe(16)
        token = platform.sign(platform.claims_for(plan, nonce), plan)
        platform.issued_tokens.append(token)
        return auto_post_form(params["redirect_uri"], {"id_token": token, "state": params["state"]})

    @app.post("/deep-link-return")
    def deep_link_return():
        """Deep Linking 2.0 §4.2: the tool's signed LtiDeepLinkingResponse."""
        token = request.form.get("JWT")
        if not token:
            abort(400, "JWT is missing")
        try:
            claims = platform.verify_tool_jwt(token)
        except Exception as error:  # noqa: BLE001  (a platform shows any verification failure)
            return f"the deep linking response did not verify: {error}", 400
        platform.deep_link_responses.append(claims)
        items = claims.get(DL + "content_items") or []
        return f"<p>Added {len(items)} item(s).</p>"

    @app.get("/course/<hint>")
    def course_page(hint: str):
        """The LMS page that frames the tool, with LTI client-side postMessage storage (lti.put_data/get_data)."""
        login = dict(request.args)
        if request.args.get("storage") == "1":
            login["lti_storage_target"] = "_parent"
        login.pop("storage", None)
        return LMS_PAGE.replace("{{login_url}}", escape(platform.login_url(login))).replace(
            "{{tool_origin}}", json.dumps(platform.tool_origin)
        )

    @app.get("/return")
    def launch_return():
        """`launch_presentation.return_url`: a message is shown; without one, back to the activity (Moodle's
        return.php goes to the course page, from which the person opens the activity: one step here)."""
        platform.returns.append(dict(request.args))
        if request.args.get("lti_errormsg") or request.args.get("lti_msg") or "sesskey" not in request.args:
            return "<p>Back in the LMS.</p>"
        plan = platform.sessions.get(request.args.get("sesskey", ""))
        if plan is None or (request.args.get("course"), request.args.get("instanceid")) != (
                plan.context_id, plan.resource_link_id):
            return INVALID_REQUEST, 400
        return redirect(platform.activity_page_url(plan, request.args["sesskey"]), code=303)

    @app.get("/activity/<resource_link_id>")
    def activity_page(resource_link_id: str):
        """The activity page, as an LMS's: each visit launches the tool again, under a fresh message hint.

        Framed (a tool navigated its own frame here), it takes the whole window first, as Moodle's return page does."""
        plan = platform.sessions.get(request.args.get("sesskey", ""))
        if plan is None or (request.args.get("course"), resource_link_id) != (plan.context_id, plan.resource_link_id):
            return INVALID_REQUEST, 400
        if request.headers.get("Sec-Fetch-Dest") == "iframe":
            # Framed: only take the whole window (no launch here, it would spend a hint the top page spends again).
            return FRAME_BREAK_PAGE
        login, _ = platform.launch_of(replace(plan))
        return ACTIVITY_PAGE.replace("{{login_url}}", escape(platform.login_url(login))).replace(
            "{{course}}", escape(plan.context_id))

    return app
