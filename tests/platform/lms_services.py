"""The LMS side of LTI Advantage services for the test platform: token endpoint, AGS, NRPS.

Written from the specs only (1EdTech Security Framework 1.0 §4.1, AGS 2.0, NRPS 2.0); it never imports the
tool. State lives in an `LmsServices` object kept in `current_app.extensions["lms_services"]`.

Failure injection: `services.fail_next("/lineitems", status=503, count=2)` answers the next two requests
under that path with 503; `status="timeout"` holds the request longer than the tool's read timeout
(`services.timeout_seconds`) and then answers 503 without doing anything, as a platform that crashed would.

`services.hold_next(path)` keeps the next request under that path waiting (its body read) until the test releases
it, as a slow platform would; `services.refuse_progress_only = True` answers 400 to a score without `scoreGiven`,
as LMSs that require scoreGiven and scoreMaximum do. Scores follow AGS 2.0 §3.4.9 strictly: a score whose
timestamp is older than the one on record for that person and line item changes nothing (it is kept in
`ignored_scores` only).

A test may also act as a teacher in the gradebook: `services.set_result_by_hand(item, user_id, 3)` overrides
what the results endpoint says for that person, as a grade overridden in the LMS does; and count what the tool
asked with `services.requests_count("/token")`.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlencode, urlsplit

import jwt
import requests
from flask import Blueprint, Flask, current_app, g, jsonify, request, url_for

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

SCOPE_LINEITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
SCOPE_LINEITEM_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
SCOPE_RESULT_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
SCOPE_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
SCOPE_MEMBERSHIPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
ALL_SCOPES = frozenset({SCOPE_LINEITEM, SCOPE_LINEITEM_READONLY, SCOPE_RESULT_READONLY, SCOPE_SCORE, SCOPE_MEMBERSHIPS})

LINEITEM_CONTAINER = "application/vnd.ims.lis.v2.lineitemcontainer+json"
LINEITEM = "application/vnd.ims.lis.v2.lineitem+json"
SCORE = "application/vnd.ims.lis.v1.score+json"
RESULT_CONTAINER = "application/vnd.ims.lis.v2.resultcontainer+json"
MEMBERSHIP_CONTAINER = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"

ACTIVITY_PROGRESS = {"Initialized", "Started", "InProgress", "Submitted", "Completed"}
GRADING_PROGRESS = {"FullyGraded", "Pending", "PendingManual", "Failed", "NotReady"}

bp = Blueprint("lms_services", __name__)


@dataclass
class Failure:
    path_prefix: str
    status: int | str
    count: int
    message: str = "Injected failure"


@dataclass
class Hold:
    """Requests under `path_prefix` wait here (up to `count` of them) until the test sets `released`."""

    path_prefix: str
    count: int = 1
    arrived: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    max_wait: float = 60.0


@dataclass
class LoggedRequest:
    method: str
    path: str
    query: str
    status: int | None = None
    body: object = None


@dataclass
class LmsServices:
    """Everything the services remember; one per test platform."""

    client_id: str = "tool-client"
    tool_jwks_url: str | None = None
    base_url: str = ""  # set once the server runs: the origin the URLs it hands out start with
    token_audience: str | None = None  # default: <base_url>/token
    token_lifetime: int = 3600  # expires_in of access tokens
    granted_scopes: frozenset = ALL_SCOPES
    timeout_seconds: float = 7.0  # longer than the tool's read timeout in testing (5 s)
    default_page_size: int = 50
    score_accepted_status: int = 204  # AGS 2.0 §3.4 leaves the 2xx open; Moodle 4.5 answers 200

    tokens: dict = field(default_factory=dict)  # token -> (scopes, expires_at)
    token_requests: list = field(default_factory=list)  # the scopes of each token granted
    used_jtis: set = field(default_factory=set)
    line_items: dict = field(default_factory=dict)  # id -> {context_id, data}
    scores: dict = field(default_factory=dict)  # line item id -> [score, ...] in order received
    ignored_scores: list = field(default_factory=list)  # scores older than the one on record (AGS 2.0 §3.4.9)
    refuse_progress_only: bool = False  # 400 to a score without scoreGiven, as some LMSs answer
    holds: list = field(default_factory=list)
    hand_results: dict = field(default_factory=dict)  # line item id -> {user_id: {"resultScore", "comment"}}
    members: dict = field(default_factory=dict)  # context_id -> [member, ...]
    contexts: dict = field(default_factory=dict)  # context_id -> {"id", "label", "title"}
    requests: list = field(default_factory=list)
    failures: list = field(default_factory=list)
    cursors: dict = field(default_factory=dict)  # NRPS page cursors (mixed case) -> offset
    lock: threading.Lock = field(default_factory=threading.Lock)
    _next_id: int = 0

    # -- set-up ---------------------------------------------------------------------------------
    @property
    def token_url(self) -> str:
        return f"{self.base_url}/token"

    def lineitems_url(self, context_id: str) -> str:
        return f"{self.base_url}/lineitems/{context_id}"

    def memberships_url(self, context_id: str) -> str:
        return f"{self.base_url}/memberships/{context_id}"

    def line_item_url(self, item_id: str) -> str:
        return f"{self.base_url}/lineitems/{self.line_items[item_id]['context_id']}/Item/{item_id}"

    def item_id_of(self, id_or_url: str) -> str | None:
        """The id of a line item named by its id or its URL (query and trailing slash ignored); None if unknown."""
        if id_or_url in self.line_items:
            return id_or_url
        path = urlsplit(id_or_url).path.rstrip("/")
        if "/Item/" not in path:
            return None
        item_id = path.rsplit("/Item/", 1)[1]
        return item_id if item_id in self.line_items else None

    def add_line_item(self, context_id: str, **data) -> dict:
        """A line item that already exists in the gradebook; returns it as the API shows it."""
        with self.lock:
            item_id = self._new_id("LI")
            self.line_items[item_id] = {"context_id": context_id, "data": dict(data)}
            self.scores[item_id] = []
        return self.line_item_json(item_id)

    def add_members(self, context_id: str, members: list[dict], context: dict | None = None) -> None:
        self.members.setdefault(context_id, []).extend(members)
        self.contexts[context_id] = context or {"id": context_id}

    def set_result_by_hand(self, lineitem_id_or_url: str, user_id: str, result_score: float,
                           comment: str | None = None) -> None:
        """A teacher changes the grade in the gradebook: the results say this from now on, whatever scores come."""
        item_id = self.item_id_of(lineitem_id_or_url)
        if item_id is None:
            raise KeyError(f"no line item {lineitem_id_or_url!r}")
        with self.lock:
            self.hand_results.setdefault(item_id, {})[user_id] = {"resultScore": result_score, "comment": comment}

    def fail_next(self, path_prefix: str, status: int | str = 503, count: int = 1, message: str = "") -> None:
        """Answer the next `count` requests whose path starts with `path_prefix` with `status` (or "timeout")."""
        with self.lock:
            self.failures.append(Failure(path_prefix, status, count, message or f"Injected {status}"))

    def stop_failing(self) -> None:
        """Every injected failure still to come is dropped: the platform answers normally again."""
        with self.lock:
            self.failures.clear()

    def hold_next(self, path_prefix: str, count: int = 1) -> Hold:
        """Keep the next `count` requests under `path_prefix` waiting until `hold.released.set()`; then they are
        answered as usual (a score held so is stored even if the tool that sent it is gone meanwhile)."""
        hold = Hold(path_prefix, count)
        with self.lock:
            self.holds.append(hold)
        return hold

    # -- reading what happened ------------------------------------------------------------------
    def scores_for(self, item_id: str | None = None) -> list[dict]:
        if item_id is not None:
            return list(self.scores.get(item_id, []))
        return [score for scores in self.scores.values() for score in scores]

    def requests_to(self, path_prefix: str, method: str | None = None) -> list[LoggedRequest]:
        return [r for r in self.requests if r.path.startswith(path_prefix) and (method is None or r.method == method)]

    def requests_count(self, path_fragment: str, method: str | None = None) -> int:
        """How many requests reached a path containing `path_fragment` ("/token", "/scores", "/results")."""
        with self.lock:
            return sum(1 for r in self.requests if path_fragment in r.path and (method is None or r.method == method))

    def results_for(self, item_id_or_url: str) -> dict[str, dict]:
        """What the results endpoint shows for a line item, by user id (AGS 2.0 §3.3)."""
        item_id = self.item_id_of(item_id_or_url)
        if item_id is None:
            raise KeyError(f"no line item {item_id_or_url!r}")
        item_maximum = self.line_items[item_id]["data"].get("scoreMaximum")
        line_item_url = self.line_item_url(item_id)
        found: dict[str, dict] = {}
        with self.lock:
            scores = list(self.scores.get(item_id, []))
            by_hand = dict(self.hand_results.get(item_id, {}))
        for score in scores:  # the last score received for a person is their result
            found[score["userId"]] = _result_from_score(score, item_maximum)
        for user_id, grade in by_hand.items():
            result = {"userId": user_id, "resultScore": grade["resultScore"], "resultMaximum": item_maximum}
            if grade["comment"] is not None:
                result["comment"] = grade["comment"]
            found[user_id] = result
        return {
            user_id: {"id": f"{line_item_url}/results/{user_id}", "scoreOf": line_item_url, **result}
            for user_id, result in found.items()
        }

    def line_item_json(self, item_id: str) -> dict:
        item = self.line_items[item_id]
        return {"id": self.line_item_url(item_id), **item["data"]}

    # -- internals ------------------------------------------------------------------------------
    def _new_id(self, prefix: str) -> str:
        self._next_id += 1
        return f"{prefix}{self._next_id}"

    def _take(self, queue: list, path: str):
        """The first hold or failure in `queue` waiting for this path, counted down (gone at zero); None if none."""
        with self.lock:
            for entry in queue:
                if path.startswith(entry.path_prefix) and entry.count > 0:
                    entry.count -= 1
                    if entry.count == 0:
                        queue.remove(entry)
                    return entry
        return None


def _result_from_score(score: dict, item_maximum: float | None) -> dict:
    """A result as the gradebook keeps it (AGS 2.0 §3.3): the score scaled to the line item's scoreMaximum.

    A score without `scoreGiven` (progress only) leaves an empty grade, as Moodle stores it: the person has a
    result, but no `resultScore` and no `resultMaximum`.
    """
    result: dict = {"userId": score["userId"]}
    given = score.get("scoreGiven")
    if given is not None:
        maximum = item_maximum or score["scoreMaximum"]
        result["resultScore"] = given * maximum / score["scoreMaximum"]
        result["resultMaximum"] = maximum
    if score.get("comment") is not None:
        result["comment"] = score["comment"]
    return result


def create_services_app(services: LmsServices) -> Flask:
    """A tiny platform app with only these services (until the full test platform registers `bp`)."""
    app = Flask(__name__)
    app.extensions["lms_services"] = services
    app.register_blueprint(bp)
    return app


def _services() -> LmsServices:
    return current_app.extensions["lms_services"]


def _error(status: int, message: str):
    response = jsonify({"error": message})
    response.status_code = status
    return response


@bp.before_request
def _log_and_inject():
    services = _services()
    body = request.get_json(silent=True) if request.is_json or "json" in (request.content_type or "") else None
    entry = LoggedRequest(request.method, request.path, request.query_string.decode(), body=body)
    with services.lock:
        services.requests.append(entry)
    g.lms_log_entry = entry
    hold = services._take(services.holds, request.path)
    if hold is not None:
        hold.arrived.set()
        hold.released.wait(hold.max_wait)
    failure = services._take(services.failures, request.path)
    if failure is None:
        return None
    if failure.status == "timeout":
        time.sleep(services.timeout_seconds)
        return _error(503, "The platform did not answer in time")
    return _error(int(failure.status), failure.message)


@bp.after_request
def _log_status(response):
    entry = g.get("lms_log_entry")
    if entry is not None:
        entry.status = response.status_code
    return response


# -- token endpoint (Security Framework §4.1, RFC 7523) ----------------------------------------------


def _tool_key(kid: str | None):
    services = _services()
    if not services.tool_jwks_url:
        raise jwt.InvalidTokenError("no tool JWKS URL configured")
    jwks = requests.get(services.tool_jwks_url, timeout=5).json()
    for key in jwks.get("keys", []):
        if kid is None or key.get("kid") == kid:
            return jwt.PyJWK(key).key
    raise jwt.InvalidTokenError(f"no key {kid} in the tool's JWKS")


@bp.post("/token")
def token():
    services = _services()
    form = request.form
    if form.get("grant_type") != "client_credentials":
        return _error(400, "unsupported_grant_type")
    if form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE:
        return _error(400, "invalid_request: client_assertion_type")
    assertion = form.get("client_assertion", "")
    try:
        header = jwt.get_unverified_header(assertion)
        if header.get("alg") != "RS256":
            raise jwt.InvalidTokenError("alg must be RS256")
        claims = jwt.decode(
            assertion,
            _tool_key(header.get("kid")),
            algorithms=["RS256"],
            audience=services.token_audience or services.token_url,
            issuer=services.client_id,
            options={"require": ["iss", "sub", "aud", "exp", "iat", "jti"]},
        )
    except (jwt.InvalidTokenError, requests.RequestException, ValueError) as error:
        return _error(401, f"invalid_client: {error}")
    if claims["sub"] != services.client_id:
        return _error(401, "invalid_client: sub must be the client_id")
    with services.lock:
        if claims["jti"] in services.used_jtis:
            return _error(401, "invalid_client: jti already used")
        services.used_jtis.add(claims["jti"])
    requested = set((form.get("scope") or "").split())
    scopes = requested & set(services.granted_scopes)
    if not scopes:
        return _error(400, "invalid_scope")
    access_token = secrets.token_urlsafe(24)
    with services.lock:
        services.tokens[access_token] = (frozenset(scopes), time.time() + services.token_lifetime)
        services.token_requests.append(sorted(scopes))
    return jsonify(
        access_token=access_token,
        token_type="Bearer",
        expires_in=services.token_lifetime,
        scope=" ".join(sorted(scopes)),
    )


def _authorised(*scopes: str):
    """None when the bearer token is valid and holds one of `scopes`; else the error response."""
    services = _services()
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return _error(401, "A bearer token is required")
    granted = services.tokens.get(header[len("Bearer ") :])
    if granted is None or granted[1] < time.time():
        return _error(401, "The access token is unknown or expired")
    if not set(scopes) & granted[0]:
        return _error(403, "The access token does not grant this scope")
    return None


# -- AGS 2.0: line items ----------------------------------------------------------------------------


def _paged_response(items: list, url: str, media_type: str):
    """One page of `items` (limit/page query) as `media_type`, with `Link: rel="next"` when more follow."""
    limit = request.args.get("limit", type=int) or len(items) or 1
    page = request.args.get("page", 1, type=int)
    start = (page - 1) * limit
    response = jsonify(items[start : start + limit])
    response.headers["Content-Type"] = media_type
    if start + limit < len(items):
        query = {k: v for k, v in request.args.items() if k not in ("limit", "page")}
        response.headers["Link"] = f'<{url}?{urlencode({**query, "limit": limit, "page": page + 1})}>; rel="next"'
    return response


@bp.get("/lineitems/<context_id>")
def line_items(context_id: str):
    services = _services()
    denied = _authorised(SCOPE_LINEITEM, SCOPE_LINEITEM_READONLY)
    if denied:
        return denied
    filters = {"resource_link_id": "resourceLinkId", "resource_id": "resourceId", "tag": "tag"}
    found = []
    for item_id, item in list(services.line_items.items()):
        if item["context_id"] != context_id:
            continue
        if all(item["data"].get(key) == request.args[arg] for arg, key in filters.items() if arg in request.args):
            found.append(services.line_item_json(item_id))

    return _paged_response(found, services.lineitems_url(context_id), LINEITEM_CONTAINER)


@bp.post("/lineitems/<context_id>")
def create_line_item(context_id: str):
    services = _services()
    denied = _authorised(SCOPE_LINEITEM)
    if denied:
        return denied
    if not (request.content_type or "").startswith(LINEITEM):
        return _error(415, f"Content-Type must be {LINEITEM}")
    data = request.get_json(silent=True, force=True)
    problem = _line_item_problem(data)
    if problem:
        return _error(400, problem)
    data.pop("id", None)
    created = services.add_line_item(context_id, **data)
    response = jsonify(created)
    response.status_code = 201
    response.headers["Content-Type"] = LINEITEM
    return response


def _line_item_problem(data) -> str | None:
    """What makes a line item the tool sent unacceptable (AGS 2.0 §3.2; Submission Review 1.0), or None."""
    if not isinstance(data, dict) or not data.get("label"):
        return "label is required"
    maximum = data.get("scoreMaximum")
    if not isinstance(maximum, int | float) or isinstance(maximum, bool) or maximum <= 0:
        return "scoreMaximum must be a number greater than 0"
    review = data.get("submissionReview")
    if review is not None:
        if not isinstance(review, dict):
            return "submissionReview must be an object"
        statuses = review.get("reviewableStatus")
        if statuses is not None and not (isinstance(statuses, list) and all(isinstance(x, str) for x in statuses)):
            return "submissionReview.reviewableStatus must be an array of strings"
        if "custom" in review and not isinstance(review["custom"], dict):
            return "submissionReview.custom must be an object"
    return None


def _line_item_or_404(context_id: str, item_id: str):
    item = _services().line_items.get(item_id)
    if item is None or item["context_id"] != context_id:
        return None
    return item


@bp.get("/lineitems/<context_id>/Item/<item_id>")
def line_item(context_id: str, item_id: str):
    denied = _authorised(SCOPE_LINEITEM, SCOPE_LINEITEM_READONLY)
    if denied:
        return denied
    if _line_item_or_404(context_id, item_id) is None:
        return _error(404, "No such line item")
    response = jsonify(_services().line_item_json(item_id))
    response.headers["Content-Type"] = LINEITEM
    return response


@bp.put("/lineitems/<context_id>/Item/<item_id>")
def update_line_item(context_id: str, item_id: str):
    """AGS 2.0 §3.2: a PUT replaces the line item; its id and its resource link stay the platform's."""
    services = _services()
    denied = _authorised(SCOPE_LINEITEM)
    if denied:
        return denied
    item = _line_item_or_404(context_id, item_id)
    if item is None:
        return _error(404, "No such line item")
    if not (request.content_type or "").startswith(LINEITEM):
        return _error(415, f"Content-Type must be {LINEITEM}")
    data = request.get_json(silent=True, force=True)
    problem = _line_item_problem(data)
    if problem:
        return _error(400, problem)
    data.pop("id", None)
    if "resourceLinkId" in item["data"]:
        data["resourceLinkId"] = item["data"]["resourceLinkId"]
    with services.lock:
        item["data"] = data
    response = jsonify(services.line_item_json(item_id))
    response.headers["Content-Type"] = LINEITEM
    return response


@bp.post("/lineitems/<context_id>/Item/<item_id>/scores")
def post_score(context_id: str, item_id: str):
    services = _services()
    denied = _authorised(SCOPE_SCORE)
    if denied:
        return denied
    item = _line_item_or_404(context_id, item_id)
    if item is None:
        return _error(404, "No such line item")
    if not (request.content_type or "").startswith(SCORE):
        return _error(415, f"Content-Type must be {SCORE}")
    score = request.get_json(silent=True, force=True)
    if not isinstance(score, dict):
        return _error(400, "A score must be a JSON object")
    missing = [k for k in ("userId", "activityProgress", "gradingProgress", "timestamp") if not score.get(k)]
    if missing:
        return _error(400, f"Missing required fields: {', '.join(missing)}")
    if score["activityProgress"] not in ACTIVITY_PROGRESS:
        return _error(400, f"Unknown activityProgress {score['activityProgress']}")
    if score["gradingProgress"] not in GRADING_PROGRESS:
        return _error(400, f"Unknown gradingProgress {score['gradingProgress']}")
    if "scoreGiven" in score:
        given, maximum = score.get("scoreGiven"), score.get("scoreMaximum")
        if not isinstance(maximum, int | float) or maximum <= 0:
            return _error(400, "scoreMaximum is required with scoreGiven and must be greater than 0")
        if not isinstance(given, int | float) or given < 0:
            return _error(400, "scoreGiven must be a number of at least 0")
    elif services.refuse_progress_only:
        return _error(400, "Invalid score: scoreGiven and scoreMaximum are required")
    try:
        timestamp = datetime.fromisoformat(score["timestamp"])
    except (TypeError, ValueError):
        return _error(400, "timestamp must be an ISO 8601 date and time")
    if timestamp.tzinfo is None:
        return _error(400, "timestamp must include a time zone designator")
    with services.lock:
        on_record = [datetime.fromisoformat(s["timestamp"]) for s in services.scores[item_id]
                     if s["userId"] == score["userId"]]
        if on_record and on_record[-1] > timestamp:
            # AGS 2.0 §3.4.9: the platform MUST NOT update a result if the last timestamp on record is later.
            services.ignored_scores.append(score)
        else:
            services.scores[item_id].append(score)
    # A progress-only score is accepted too, and leaves an empty grade (see `_result_from_score`), as in Moodle.
    return "", services.score_accepted_status


@bp.get("/lineitems/<context_id>/Item/<item_id>/results")
def results(context_id: str, item_id: str):
    services = _services()
    denied = _authorised(SCOPE_RESULT_READONLY)
    if denied:
        return denied
    if _line_item_or_404(context_id, item_id) is None:
        return _error(404, "No such line item")
    user_filter = request.args.get("user_id")
    found = [
        result
        for user_id, result in services.results_for(item_id).items()
        if user_filter is None or user_id == user_filter
    ]
    line_item_url = services.line_item_url(item_id)
    return _paged_response(found, f"{line_item_url}/results", RESULT_CONTAINER)


# -- NRPS 2.0 -----------------------------------------------------------------------------------------


def _members_page(context_id: str, offset: int):
    services = _services()
    denied = _authorised(SCOPE_MEMBERSHIPS)
    if denied:
        return denied
    if context_id not in services.members:
        return _error(404, "No such context")
    limit = request.args.get("limit", type=int) or request.args.get("Limit", type=int) or services.default_page_size
    members = services.members[context_id]
    role = request.args.get("role")
    if role:
        members = [m for m in members if role in m.get("roles", [])]
    chunk = members[offset : offset + limit]
    response = jsonify(
        {"id": request.url, "context": services.contexts.get(context_id, {"id": context_id}), "members": chunk}
    )
    response.headers["Content-Type"] = MEMBERSHIP_CONTAINER
    if offset + limit < len(members):
        # Mixed case on purpose: a client that lower-cases the URL gets a 404 (path) or a wrong cursor (query).
        cursor = "Cur" + secrets.token_urlsafe(9) + "XyZ"
        with services.lock:
            services.cursors[cursor] = offset + limit
        query = urlencode({"Limit": limit, "Cursor": cursor, **({"role": role} if role else {})})
        next_url = f"{services.base_url}{url_for('lms_services.memberships_page', context_id=context_id)}?{query}"
        response.headers["Link"] = f'<{next_url}>; rel="next"'
    return response


@bp.get("/memberships/<context_id>")
def memberships(context_id: str):
    return _members_page(context_id, 0)


@bp.get("/memberships/<context_id>/NextPage")
def memberships_page(context_id: str):
    cursor = request.args.get("Cursor")
    offset = _services().cursors.get(cursor or "")
    if offset is None:
        return _error(404, "Unknown page cursor")
    return _members_page(context_id, offset)
