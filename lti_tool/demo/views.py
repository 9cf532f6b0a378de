"""The demo LMS's pages and endpoints (development only: registered when DEMO_ENABLED).

A course page with launch buttons; the OIDC authorization endpoint; the platform JWKS; an OAuth 2 token
endpoint; a minimal AGS (line items, scores, results) and NRPS (memberships); the deep linking return; and the
emails the tool wrote to its instance folder (MAIL_BACKEND=file), as a mail client would show them.
"""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from io import BytesIO
from pathlib import Path

from flask import Blueprint, abort, current_app, jsonify, redirect, render_template, request, send_file, url_for
from werkzeug.utils import secure_filename

from lti_tool.demo import platform as p
from lti_tool.demo.platform import DemoError
from lti_tool.lti import browser_binding
from lti_tool.lti import claims as c
from lti_tool.mail.transport import FILE_NAME, mail_folder

bp = Blueprint("demo", __name__, url_prefix="/demo")

API_PATHS = ("/demo/token", "/demo/lineitems", "/demo/memberships")
LINEITEM_TYPE = "application/vnd.ims.lis.v2.lineitem+json"
LINEITEMS_TYPE = "application/vnd.ims.lis.v2.lineitemcontainer+json"
RESULTS_TYPE = "application/vnd.ims.lis.v2.resultcontainer+json"
MEMBERSHIPS_TYPE = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
MAIL_SHOWN = 200  # the newest emails listed


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
        mail_count=len(_mail_files()),
        form_token=p.form_token(),
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


def require_own_form() -> None:
    """A change comes from the demo's own page: the browser says so (`Sec-Fetch-Site`/`Origin`, as for the tool's
    forms) and the form carries the page's signed token. Refused with nothing changed otherwise."""
    if not browser_binding.is_same_origin_request():
        raise DemoError("This form was sent by another site, so nothing was changed.", status=403)
    p.check_form_token(request.form.get("form_token"))


@bp.post("/reset")
def reset():
    """Empty the course and the gradebook (the seed comes back on the next visit)."""
    require_own_form()
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


# -- mail the tool wrote (MAIL_BACKEND=file) ---------------------------------------------------------------
def _mail_files() -> list[Path]:
    """The tool's `.eml` files, newest first (their names start with the UTC time they were written)."""
    folder = mail_folder(current_app)
    if not folder.is_dir():
        return []
    return sorted((f for f in folder.iterdir() if FILE_NAME.fullmatch(f.name) and f.is_file()),
                  key=lambda f: f.name, reverse=True)


def _read_mail(name: str) -> EmailMessage:
    """One email by its file name; 404 for any name that is not one of the folder's own (no path from input)."""
    if not FILE_NAME.fullmatch(name):
        abort(404)
    path = mail_folder(current_app) / name
    if not path.is_file():
        abort(404)
    with path.open("rb") as handle:
        return BytesParser(policy=policy.default).parse(handle)


def _sent_at(email: EmailMessage):
    try:
        return parsedate_to_datetime(str(email["Date"]))
    except (TypeError, ValueError):
        return None


def _attachments(email: EmailMessage) -> list[dict]:
    return [
        {"index": index, "filename": part.get_filename() or f"attachment-{index + 1}",
         "content_type": part.get_content_type(), "size": len(part.get_payload(decode=True) or b"")}
        for index, part in enumerate(email.iter_attachments())
    ]


def _body(email: EmailMessage, subtype: str) -> str | None:
    part = email.get_body(preferencelist=(subtype,))
    return part.get_content() if part is not None and part.get_content_type() == f"text/{subtype}" else None


@bp.get("/mail")
def mail_list():
    """The emails the tool wrote to its instance folder, newest first."""
    files = _mail_files()
    rows = []
    for path in files[:MAIL_SHOWN]:
        with path.open("rb") as handle:
            email = BytesParser(policy=policy.default).parse(handle)
        rows.append({"name": path.name, "sent_at": _sent_at(email), "to": str(email.get("To", "")),
                     "subject": str(email.get("Subject", "")), "attachments": _attachments(email)})
    return render_template("demo/mail_list.html", messages=rows, total=len(files), shown=MAIL_SHOWN,
                           folder=mail_folder(current_app), backend=current_app.config["MAIL_BACKEND"])


@bp.get("/mail/<name>")
def mail_detail(name: str):
    """One email: its headers, text body, HTML body (in a sandboxed frame) and attachments."""
    email = _read_mail(name)
    headers = [(header, str(email[header])) for header in ("From", "To", "Subject", "Date", "Message-ID")
               if header in email]
    return render_template("demo/mail_detail.html", name=name, subject=str(email.get("Subject", "")),
                           headers=headers, text_body=_body(email, "plain"), html_body=_body(email, "html"),
                           attachments=_attachments(email))


@bp.get("/mail/<name>/<int:index>")
def mail_attachment(name: str, index: int):
    """An attachment's bytes, always as a download (never rendered by the browser in the demo's origin)."""
    parts = list(_read_mail(name).iter_attachments())
    if index >= len(parts):
        abort(404)
    part = parts[index]
    filename = secure_filename(part.get_filename() or "") or f"attachment-{index + 1}"
    return send_file(BytesIO(part.get_payload(decode=True) or b""), mimetype=part.get_content_type(),
                     as_attachment=True, download_name=filename)


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
