"""The demo LMS's pages and endpoints (development only: registered when DEMO_ENABLED).

A course page with launch buttons; the OIDC authorization endpoint; the platform JWKS; an OAuth 2 token
endpoint; a minimal AGS (line items, scores, results) and NRPS (memberships); the deep linking return.
"""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, redirect, render_template, request, url_for

from lti_tool.demo import platform as p
from lti_tool.demo.platform import DemoError
from lti_tool.lti import claims as c

bp = Blueprint("demo", __name__, url_prefix="/demo")

API_PATHS = ("/demo/token", "/demo/lineitems", "/demo/memberships")
LINEITEM_TYPE = "application/vnd.ims.lis.v2.lineitem+json"
LINEITEMS_TYPE = "application/vnd.ims.lis.v2.lineitemcontainer+json"
RESULTS_TYPE = "application/vnd.ims.lis.v2.resultcontainer+json"
MEMBERSHIPS_TYPE = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"


@bp.errorhandler(DemoError)
def demo_error(error: DemoError):
    if request.path.startswith(API_PATHS):
        return jsonify(error="invalid_request", error_description=error.message), error.status
    return render_template("demo/message.html", title="The demo LMS refused this", message=error.message,
                           is_error=True), error.status


def _ready() -> str:
    """Register the demo platform for the origin the browser uses (first start) and seed the course."""
    issuer = p.request_issuer()
    p.ensure_registration(issuer)
    p.seed_course()
    return issuer


def _json(data, status: int = 200, mimetype: str = "application/json"):
    response = jsonify(data)
    response.status_code = status
    response.mimetype = mimetype
    return response


# -- pages ----------------------------------------------------------------------------------------------
@bp.get("")
@bp.get("/")
def course():
    """The course page: activities with their launch buttons, deep linking, the gradebook."""
    issuer = _ready()
    course_data = p.load_course()
    return render_template(
        "demo/course.html",
        issuer=issuer,
        client_id=p.CLIENT_ID,
        deployment_id=p.DEPLOYMENT_ID,
        course=p.COURSE,
        activities=course_data["activities"],
        personas=p.PERSONAS.values(),
        personas_by_key=p.PERSONAS,
        double_blind_titles=[mc.title for mc in p.catalog_microcredentials() if mc.double_blind],
        gradebook=p.gradebook(course_data),
        lineitems={li["id"]: li for li in course_data["lineitems"]},
        added=request.args.get("added"),
    )


@bp.get("/launch/<activity_id>/<persona>")
def launch(activity_id: str, persona: str):
    """Launch an activity as one of the demo people: the tool's login URL in an iframe."""
    issuer = _ready()
    activity = p.find_activity(p.load_course(), activity_id)
    if activity is None or persona not in p.PERSONAS:
        abort(404)
    return render_template(
        "demo/launch.html",
        heading=activity["title"],
        persona=p.PERSONAS[persona],
        login_url=p.login_url(issuer, persona, c.RESOURCE_LINK_REQUEST, activity_id),
    )


@bp.get("/deep-link")
def deep_link():
    """'Add a micro-credential': an LtiDeepLinkingRequest launched as the instructor."""
    issuer = _ready()
    return render_template(
        "demo/launch.html",
        heading="Add a micro-credential",
        persona=p.PERSONAS["instructor"],
        login_url=p.login_url(issuer, "instructor", c.DEEP_LINKING_REQUEST, None),
    )


@bp.post("/reset")
def reset():
    """Empty the course and the gradebook (the seed comes back on the next visit)."""
    p.reset_course()
    return redirect(url_for("demo.course"), code=303)


@bp.get("/return")
def return_from_tool():
    """launch_presentation.return_url: the tool sends people back here, with lti_msg or lti_errormsg."""
    return render_template(
        "demo/message.html",
        title="Back in the demo LMS",
        message=request.args.get("lti_errormsg") or request.args.get("lti_msg") or "The tool sent you back.",
        is_error=bool(request.args.get("lti_errormsg")),
    )


# -- LTI 1.3: authorization, keys, token ----------------------------------------------------------------
@bp.route("/auth", methods=["GET", "POST"])
def auth():
    """OIDC authorization endpoint: answer the tool's login with a signed id_token, auto-posted."""
    issuer = p.request_issuer()
    params = request.values
    hint = p.check_authorization_request(params, issuer)
    token = p.id_token(issuer, hint, params["nonce"])
    return render_template("demo/form_post.html", action=params["redirect_uri"], id_token=token,
                           state=params.get("state", ""))


@bp.get("/jwks")
def jwks():
    return jsonify(p.platform_jwks())


@bp.post("/token")
def token():
    """OAuth 2 client credentials grant with a JWT client assertion signed by the tool."""
    scopes = p.check_client_assertion(request.form)
    response = jsonify(
        access_token=p.access_token(scopes),
        token_type="Bearer",  # noqa: S106  (the OAuth 2 token type, not a secret)
        expires_in=p.ACCESS_TOKEN_LIFETIME,
        scope=" ".join(scopes),
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _require_scope(*accepted: str) -> None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        raise DemoError("A bearer token from /demo/token is required.", status=401)
    if not p.token_scopes(header[len("Bearer "):]) & set(accepted):
        raise DemoError("The access token does not grant this scope.", status=403)


# -- AGS 2.0 (minimal) ------------------------------------------------------------------------------------
@bp.route("/lineitems", methods=["GET", "POST"])
def lineitems():
    issuer = p.request_issuer()
    if request.method == "POST":
        _require_scope(p.SCOPE_LINEITEM)
        data = request.get_json(force=True, silent=True) or {}
        with p.course_lock():
            course_data = p.load_course()
            item = p.add_lineitem(course_data, data)
            p.save_course(course_data)
        return _json(p.lineitem_json(issuer, item), 201, LINEITEM_TYPE)
    _require_scope(p.SCOPE_LINEITEM, p.SCOPE_LINEITEM_READONLY)
    items = p.load_course()["lineitems"]
    for name, key in (("resource_link_id", "resourceLinkId"), ("resource_id", "resourceId"), ("tag", "tag")):
        if request.args.get(name):
            items = [li for li in items if li.get(key) == request.args[name]]
    return _json([p.lineitem_json(issuer, li) for li in items], 200, LINEITEMS_TYPE)


@bp.get("/lineitems/<lineitem_id>")
def lineitem(lineitem_id: str):
    _require_scope(p.SCOPE_LINEITEM, p.SCOPE_LINEITEM_READONLY)
    item = p.find_lineitem(p.load_course(), lineitem_id)
    if item is None:
        raise DemoError("No such line item.", status=404)
    return _json(p.lineitem_json(p.request_issuer(), item), 200, LINEITEM_TYPE)


@bp.post("/lineitems/<lineitem_id>/scores")
def scores(lineitem_id: str):
    _require_scope(p.SCOPE_SCORE)
    score = request.get_json(force=True, silent=True) or {}
    if not score.get("userId") or not score.get("activityProgress") or not score.get("gradingProgress"):
        raise DemoError("A score needs userId, activityProgress and gradingProgress (AGS 2.0 §3.4).")
    with p.course_lock():
        course_data = p.load_course()
        if p.find_lineitem(course_data, lineitem_id) is None:
            raise DemoError("No such line item.", status=404)
        p.record_score(course_data, lineitem_id, score)
        p.save_course(course_data)
    return "", 204


@bp.get("/lineitems/<lineitem_id>/results")
def results(lineitem_id: str):
    _require_scope(p.SCOPE_RESULT_READONLY)
    issuer = p.request_issuer()
    course_data = p.load_course()
    rows = [
        {
            "id": f"{issuer}/lineitems/{lineitem_id}/results/{s['userId']}",
            "scoreOf": f"{issuer}/lineitems/{lineitem_id}",
            "userId": s["userId"],
            "resultScore": s.get("scoreGiven"),
            "resultMaximum": s.get("scoreMaximum"),
            "comment": s.get("comment"),
        }
        for s in course_data["scores"]
        if s["lineitem_id"] == lineitem_id and request.args.get("user_id") in (None, s["userId"])
    ]
    return _json(rows, 200, RESULTS_TYPE)


# -- NRPS 2.0 ----------------------------------------------------------------------------------------------
@bp.get("/memberships")
def memberships():
    _require_scope(p.SCOPE_NRPS)
    return _json(p.memberships(p.request_issuer()), 200, MEMBERSHIPS_TYPE)


# -- Deep Linking 2.0 -----------------------------------------------------------------------------------------
@bp.post("/deep-link-return")
def deep_link_return():
    """The tool's LtiDeepLinkingResponse: verify it, place the activity, show it in the course."""
    placed = p.place_deep_linked_items(request.form.get("JWT", ""))
    return render_template(
        "demo/deep_link_done.html",
        placed=placed,
        course_url=url_for("demo.course", added=placed[0]["id"] if placed else None),
    )
