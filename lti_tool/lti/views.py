"""LTI endpoints: OIDC login, launch, deep linking, binding an activity, JWKS."""

from __future__ import annotations

from urllib.parse import urlsplit

import jwt
from flask import Blueprint, abort, current_app, g, jsonify, redirect, render_template, request, url_for
from pylti1p3.exception import LtiException

from lti_tool.catalog.binding import bind_resource_link, microcredential_of
from lti_tool.catalog.services import get_microcredential, list_microcredentials
from lti_tool.core import responses
from lti_tool.core.errors import LaunchError, NotAllowed
from lti_tool.core.keys import key_store
from lti_tool.core.urls import external_url
from lti_tool.lti import browser_binding, roles
from lti_tool.lti import claims as c
from lti_tool.lti.deep_linking import deep_linking_settings, response_for
from lti_tool.lti.hooks import launch_handler
from lti_tool.lti.launch import StateNotFound, ToolMessageLaunch, ToolOIDCLogin, state_and_nonce
from lti_tool.lti.launch_context import (
    LaunchContext,
    current_launch,
    issue_launch_token,
    renew_launch_token,
    require_duty,
    start_session,
)
from lti_tool.lti.models import origin_of
from lti_tool.lti.return_urls import launch_return_link
from lti_tool.lti.services import record_launch
from lti_tool.lti.tool_conf import find_registration

__all__ = ["bp", "external_url"]  # external_url: still imported from here by the demo platform

bp = Blueprint("lti", __name__)

LOGIN_PARAMETERS = ("iss", "login_hint", "lti_message_hint", "target_link_uri", "client_id", "lti_deployment_id")


@bp.before_request
def _framed_by_the_platform() -> None:
    """The login and launch pages (their errors too) show inside the platform's frame: that platform alone may
    frame them. Asked only when the answer is a page; a redirect costs no lookup."""
    if request.endpoint in ("lti.login", "lti.launch"):
        responses.allow_framing_by(_origins_of_the_requesting_platform)


def _origins_of_the_requesting_platform() -> set[str]:
    """The registration named by the login's `iss`/`client_id`, or by the launch's id_token (read unverified:
    it only picks which registered platform may frame the answer)."""
    issuer, client_id = request.values.get("iss"), request.values.get("client_id")
    if request.endpoint == "lti.launch":
        try:
            body = jwt.decode(request.form.get("id_token", ""), options={"verify_signature": False})
        except jwt.InvalidTokenError:
            return set()
        issuer, audience = body.get("iss"), body.get("aud")
        client_id = body.get("azp") or (audience[0] if isinstance(audience, list) and audience else audience)
    if not isinstance(issuer, str) or not issuer:
        return set()
    registration = find_registration(issuer, client_id if isinstance(client_id, str) else None)
    return registration.frame_origins if registration is not None else set()


def _is_tool_url(url: str | None) -> bool:
    if not url:
        return False
    ours = urlsplit(external_url("lti.launch"))
    theirs = urlsplit(url)
    return (theirs.scheme, theirs.netloc) == (ours.scheme, ours.netloc)


@bp.route("/lti/login", methods=["GET", "POST"])
def login():
    """Third-party initiated login (LTI 1.3 Core §5.1.1): answer with the platform's authorization request."""
    target = request.values.get("target_link_uri")
    if not _is_tool_url(target):
        raise LaunchError(
            "The LMS asked to launch a page that does not belong to this tool (target_link_uri).",
            hint="The LMS administrator should check the tool URL in the tool's registration.",
        )
    oidc = ToolOIDCLogin.for_request()
    params = {name: request.values.get(name) for name in LOGIN_PARAMETERS if request.values.get(name)}
    storage_target = request.values.get("lti_storage_target")
    oidc.pass_params_to_launch({"login": params, "storage_target": storage_target})
    auth_url = oidc.auth_url(external_url("lti.launch"))
    if storage_target:
        # LTI Client Side postMessages: keep state and nonce in the platform's storage frame as well.
        state, nonce = state_and_nonce(auth_url)
        response = current_app.make_response(
            render_template(
                "lti/login_storage.html",
                auth_url=auth_url,
                state=state,
                nonce=nonce,
                storage_target=storage_target,
                platform_origin=_storage_origin(params),
            )
        )
        oidc._cookie_service.update_response(response)
        return response
    return oidc.redirect_to(auth_url)


def _storage_origin(login: dict | None) -> str:
    """The origin of the platform's storage frame: its OIDC authorization endpoint (Canvas: not the issuer)."""
    login = login or {}
    registration = find_registration(login.get("iss") or "", login.get("client_id"))
    if registration is not None:
        return origin_of(registration.auth_login_url) or origin_of(registration.issuer) or "*"
    return origin_of(login.get("iss")) or "*"


@bp.post("/lti/launch")
def launch():
    """The redirect URI: validate the id_token, record the launch, dispatch on its message type."""
    message_launch = ToolMessageLaunch.for_request()
    # Only the tool's own storage check page may say the platform's storage vouched for the state: a forged form
    # on another site cannot claim the tool's origin (login CSRF), and a client sending no browser headers gets no say.
    message_launch.storage_verified = request.form.get("lti_storage_verified") == "1" and \
        browser_binding.is_same_origin_request(without_browser_headers=False)
    try:
        message_launch.validate()
    except StateNotFound:
        return _state_not_found(message_launch)
    body = message_launch.body()
    launch_context = record_launch(message_launch.get_launch_id(), body)
    # The launch's registration is known now: its platform frames the answer (no second reading of the id_token).
    responses.allow_framing_by(find_registration(body["iss"], c.client_id(body)).frame_origins)
    # The state came back in its cookie: this browser keeps partitioned cookies, so the session is bound to it.
    launch_context = start_session(launch_context, bind_browser=message_launch.state_from_cookie)
    token = issue_launch_token(launch_context)
    message_type = body[c.MESSAGE_TYPE]
    handler = launch_handler(message_type) or LAUNCH_HANDLERS.get(message_type, _land)
    return handler(launch_context, token, body)


def _land(launch: LaunchContext, token: str, _body: dict):
    """Resource link launches (and, until a package registers its own, submission reviews) go straight to the
    page for the person's duty; /lti/home only when there is no such page (it explains why)."""
    endpoint, _ = landing_page(launch)
    return redirect(url_for(endpoint or "lti.home", ltik=token), code=303)


def _open_deep_link_picker(_launch: LaunchContext, token: str, _body: dict):
    return redirect(url_for("lti.deep_link_picker", ltik=token), code=303)


# One handler per message type (django-lti's launch view); `lti.hooks.register_launch_handler` replaces one.
LAUNCH_HANDLERS = {
    c.RESOURCE_LINK_REQUEST: _land,
    c.DEEP_LINKING_REQUEST: _open_deep_link_picker,
    c.SUBMISSION_REVIEW_REQUEST: _land,
}


def landing_page(launch: LaunchContext):
    """(endpoint, micro-credential): the page a launch lands on for the person's first duty, or no endpoint when
    /lti/home itself answers (no duty, an activity not set up for a non-instructor, or nothing more specific)."""
    resource_link = launch.resource_link
    microcredential = microcredential_of(resource_link)
    if not launch.duties:
        return None, microcredential
    duty = launch.duties[0]
    if resource_link is not None and microcredential is None:
        return ("lti.bind" if duty == roles.INSTRUCTOR else None), None
    if duty == roles.EDUCATOR and microcredential is not None:
        return "submissions.page", microcredential
    if duty == roles.INSTRUCTOR and resource_link is not None:
        return "progress.index", microcredential  # the course's progress
    if duty == roles.ASSESSOR:
        return "assessment.queue", microcredential  # everything they may assess
    return None, microcredential


def _state_not_found(message_launch: ToolMessageLaunch):
    """No state cookie: the platform's postMessage storage if the login offered it, else a way back through the LMS.

    Never a replay of the login: message hints are single-use on some platforms (Moodle's), so a fresh launch must
    come from the LMS itself — after a Storage Access API grant, or from its own page opened in a first-party window.
    """
    login_params = message_launch.login_params()
    course_url = _new_window_url(message_launch)
    asked_already = request.form.get("lti_storage_verified") == "1"  # never loop back to the check page
    if login_params.get("storage_target") and not asked_already:
        response = current_app.make_response(render_template(
            "lti/launch_storage_check.html",
            id_token=request.form.get("id_token", ""),
            state=request.form.get("state", ""),
            storage_target=login_params["storage_target"],
            platform_origin=_storage_origin(login_params.get("login")),
            new_window_url=course_url,
        ))
        # Its form must reach us with its Origin (no-referrer would send "null"); the page carries no ltik.
        response.headers["Referrer-Policy"] = "same-origin"
        return response
    return render_template("lti/new_window.html", course_url=course_url), 401


def _new_window_url(message_launch: ToolMessageLaunch) -> str | None:
    """The LMS page that launches the activity again: the launch's return URL (LTI 1.3 Core §6.1.2).

    Only from an id_token whose signature and claims hold, and only on an origin of its platform's registration:
    anyone can post a forged token here, and the LMS's origin may serve files its users uploaded.
    """
    try:
        message_launch.validate_jwt_format()
        body = message_launch.body()
        if not isinstance(body, dict) or not isinstance(body.get("iss"), str) or not body.get("aud"):
            return None
        message_launch.validate_jwt_signature()
    except (LaunchError, LtiException):
        return None
    return message_launch.trusted_return_url()


@bp.get("/lti/home")
def home():
    """A page for the person's duty: where a launch lands when nothing more specific fits, and old links."""
    launch = current_launch()
    if not launch.duties:
        raise NotAllowed(
            "Your role in this course does not give you access to this tool.",
            hint="Educators need the Learner role; instructors, Instructor; assessors, Teaching Assistant or Mentor.",
        )
    endpoint, microcredential = landing_page(launch)
    if endpoint is not None:
        return redirect(url_for(endpoint, ltik=g.ltik), code=303)
    resource_link = launch.resource_link
    if resource_link is not None and microcredential is None:
        return render_template("lti/not_set_up.html", launch=launch, is_misbound=resource_link.is_bound,
                               back_url=launch_return_link(launch)), 200
    duty = launch.duties[0]
    return render_template(
        "lti/home.html",
        launch=launch,
        duty=duty,
        duty_label=roles.DUTY_LABELS[duty],
        user=launch.user,
        course=launch.context,
        microcredential=microcredential,
    )


@bp.route("/lti/bind", methods=["GET", "POST"])
@require_duty(roles.INSTRUCTOR)
def bind():
    """An instructor binds an unbound activity to a micro-credential on its first launch."""
    launch = current_launch()
    resource_link = launch.resource_link
    if resource_link is None:
        abort(404)
    if request.method == "POST":
        bind_resource_link(resource_link, request.form.get("microcredential", ""))
        return redirect(url_for("lti.home", ltik=g.ltik), code=303)
    return render_template(
        "lti/bind.html",
        launch=launch,
        resource_link=resource_link,
        microcredentials=list_microcredentials(),
        picker_action=url_for("lti.bind"),
        picker_hidden={"ltik": g.ltik},
    )


@bp.get("/lti/deep-link")
@require_duty(roles.INSTRUCTOR)
def deep_link_picker():
    """Deep Linking 2.0 §3.4: show the catalog; the choice is sent back to the platform."""
    deep_linking_settings(current_launch().launch_id)
    return render_template(
        "lti/deep_link_picker.html",
        microcredentials=list_microcredentials(),
        picker_action=url_for("lti.deep_link_respond"),
        picker_hidden={"ltik": g.ltik},
    )


@bp.post("/lti/deep-link")
@require_duty(roles.INSTRUCTOR)
def deep_link_respond():
    """Answer the deep linking request with a signed LtiDeepLinkingResponse, auto-posted to the platform."""
    launch = current_launch()
    microcredential = get_microcredential(request.form.get("microcredential", ""))
    if microcredential is None:
        raise NotAllowed("Choose a micro-credential from the catalog.")
    return_url, jwt_token = response_for(launch.launch_id, microcredential, external_url("lti.launch"))
    return render_template("lti/deep_link_post.html", return_url=return_url, jwt=jwt_token,
                           microcredential=microcredential)


@bp.get("/lti/jwks")
@bp.get("/.well-known/jwks.json")
def jwks():
    """The tool's public keys: the body is the key set itself (`{"keys": [...]}`)."""
    response = jsonify(key_store().jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.post("/lti/session/renew")
def renew_session():
    """A page's fresh launch reference (static/js/session.js), for its session token sent in a header."""
    token, expires_in = renew_launch_token(request.headers.get("X-Launch-Session", ""))
    response = jsonify(ltik=token, expires_in=expires_in)
    response.headers["Cache-Control"] = "no-store"
    return response
