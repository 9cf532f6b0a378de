"""LTI endpoints: OIDC login, launch, deep linking, binding an activity, JWKS."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from flask import Blueprint, abort, current_app, g, jsonify, redirect, render_template, request, url_for

from lti_tool.catalog.binding import bind_resource_link, microcredential_of
from lti_tool.catalog.services import get_microcredential, list_microcredentials
from lti_tool.core import responses
from lti_tool.core.errors import LaunchError, NotAllowed
from lti_tool.core.keys import key_store
from lti_tool.core.urls import external_url
from lti_tool.lti import claims as c
from lti_tool.lti import roles
from lti_tool.lti.deep_linking import deep_linking_settings, response_for
from lti_tool.lti.hooks import launch_handler
from lti_tool.lti.launch import StateNotFound, ToolMessageLaunch, ToolOIDCLogin, state_and_nonce
from lti_tool.lti.launch_context import LaunchContext, current_launch, issue_launch_token, require_duty
from lti_tool.lti.models import origin_of
from lti_tool.lti.registration import active_frame_origins
from lti_tool.lti.services import record_launch
from lti_tool.lti.tool_conf import find_registration

__all__ = ["bp", "external_url"]  # external_url: still imported from here by the demo platform

bp = Blueprint("lti", __name__)

LOGIN_PARAMETERS = ("iss", "login_hint", "lti_message_hint", "target_link_uri", "client_id", "lti_deployment_id")


@bp.record_once
def _register_hooks(_state) -> None:
    """At app start: the pages may be framed by the platforms registered here (CSP frame-ancestors)."""
    responses.set_frame_origins_provider(active_frame_origins)


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
    message_launch.storage_verified = request.form.get("lti_storage_verified") == "1" and _from_our_own_page()
    try:
        message_launch.validate()
    except StateNotFound:
        return _state_not_found(message_launch)
    body = message_launch.body()
    message_launch.consume_state()
    launch_context = record_launch(message_launch.get_launch_id(), body)
    token = issue_launch_token(launch_context)
    message_type = body[c.MESSAGE_TYPE]
    handler = launch_handler(message_type) or LAUNCH_HANDLERS.get(message_type, _land_home)
    return handler(launch_context, token, body)


def _land_home(_launch: LaunchContext, token: str, _body: dict):
    """Resource link launches (and, until a package registers its own, submission reviews) land on home."""
    return redirect(url_for("lti.home", ltik=token), code=303)


def _open_deep_link_picker(_launch: LaunchContext, token: str, _body: dict):
    return redirect(url_for("lti.deep_link_picker", ltik=token), code=303)


# One handler per message type (django-lti's launch view); `lti.hooks.register_launch_handler` replaces one.
LAUNCH_HANDLERS = {
    c.RESOURCE_LINK_REQUEST: _land_home,
    c.DEEP_LINKING_REQUEST: _open_deep_link_picker,
    c.SUBMISSION_REVIEW_REQUEST: _land_home,
}


def _from_our_own_page() -> bool:
    """Was this POST sent by one of the tool's own pages (the storage check), not by another site?

    Browsers set `Origin` (and `Sec-Fetch-Site`) themselves; a forged form on another site cannot claim the
    tool's origin, so the storage check's answer cannot be replayed into someone else's browser (login CSRF).
    """
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site:
        return fetch_site == "same-origin"
    return request.headers.get("Origin") == origin_of(external_url("lti.launch"))


def _state_not_found(message_launch: ToolMessageLaunch):
    """No state cookie: use the platform's postMessage storage if the login did, else offer a new window."""
    login_params = message_launch.login_params()
    asked_already = request.form.get("lti_storage_verified") == "1"  # never loop back to the check page
    if login_params.get("storage_target") and not asked_already:
        response = current_app.make_response(render_template(
            "lti/launch_storage_check.html",
            id_token=request.form.get("id_token", ""),
            state=request.form.get("state", ""),
            storage_target=login_params["storage_target"],
            platform_origin=_storage_origin(login_params.get("login")),
            new_window_url=_new_window_url(login_params.get("login")),
        ))
        # Its form must reach us with its Origin (no-referrer would send "null"); the page carries no ltik.
        response.headers["Referrer-Policy"] = "same-origin"
        return response
    return render_template("lti/new_window.html", new_window_url=_new_window_url(login_params.get("login"))), 401


def _new_window_url(login: dict | None) -> str | None:
    return external_url("lti.login") + "?" + urlencode(login) if login else None


@bp.get("/lti/home")
def home():
    """Where a resource link launch lands: a page for the person's duty."""
    launch = current_launch()
    resource_link = launch.resource_link
    microcredential = microcredential_of(resource_link)
    if not launch.duties:
        raise NotAllowed(
            "Your role in this course does not give you access to this tool.",
            hint="Educators need the Learner role; instructors, Instructor; assessors, Teaching Assistant or Mentor.",
        )
    duty = launch.duties[0]
    if resource_link is not None and microcredential is None:
        if duty == roles.INSTRUCTOR:
            return redirect(url_for("lti.bind", ltik=g.ltik), code=303)
        return render_template("lti/not_set_up.html", launch=launch, is_misbound=resource_link.is_bound), 200
    if duty == roles.EDUCATOR and microcredential is not None:
        return redirect(url_for("submissions.page", ltik=g.ltik), code=303)
    if duty == roles.INSTRUCTOR and resource_link is not None:
        return redirect(url_for("progress.index", ltik=g.ltik), code=303)  # the course's progress
    if duty == roles.ASSESSOR:
        return redirect(url_for("assessment.queue", ltik=g.ltik), code=303)  # everything they may assess
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
