"""LTI Dynamic Registration 1.0 (/lti/register) and the manual-registration page (/lti/config)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, render_template, request

from lti_tool.core.errors import DomainError
from lti_tool.core.responses import allow_framing_by
from lti_tool.extensions import db
from lti_tool.lti.models import origin_of
from lti_tool.lti.registration import (
    RegistrationFailed,
    check_registration_allowed,
    describe_tool,
    dynamic_registration,
    tool_messages,
)

bp = Blueprint("registration", __name__)

LOGO_SVG = """<svg xmlns="http://www.w3.org/2000/svg" width="128" height="128" viewBox="0 0 128 128">
<rect width="128" height="128" rx="24" fill="#0b5cad"/>
<circle cx="64" cy="56" r="28" fill="none" stroke="#fff" stroke-width="8"/>
<path d="M46 80 L38 112 L64 98 L90 112 L82 80" fill="#fff"/>
</svg>"""


def _not_stored(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/lti/register")
def register():
    """Dynamic registration initiation (LTI DR 1.0 §3.3): the LMS opens this in an iframe or a window."""
    openid_configuration = request.args.get("openid_configuration", "").strip()
    registration_token = request.args.get("registration_token", "").strip() or None
    # The LMS frames this page before it is registered: the origin of its configuration URL (and only it) may
    # show the answer, whatever it is (an error page too).
    platform_origin = origin_of(openid_configuration)
    allow_framing_by([platform_origin] if platform_origin else [])
    try:
        if not openid_configuration:
            raise RegistrationFailed(
                "This page registers the tool with an LMS, and must be opened by the LMS itself "
                "(it was opened without the openid_configuration parameter).",
                hint="Paste this URL into your LMS's dynamic registration form "
                "(Moodle: Site administration › Plugins › Manage tools; Canvas: Developer Keys › LTI Registration).",
            )
        invite = check_registration_allowed(request.args.get("invite"))
        result = dynamic_registration(openid_configuration, registration_token, invite=invite)
    except DomainError as error:
        # Moodle shows the admin nothing but this page: it must say plainly what went wrong.
        db.session.rollback()
        current_app.logger.info("dynamic registration refused: %s", error.message)
        page = render_template(
            "errors/error.html", status=error.status, title=error.title, message=error.message, hint=error.hint
        )
        return _not_stored(current_app.make_response((page, error.status)))
    page = render_template(
        "lti/register_done.html",
        registration=result.registration,
        deployment=result.deployment,
        product_family_code=result.product_family_code,
    )
    return _not_stored(current_app.make_response(page))


def config_document() -> dict:
    """What an admin copies into an LMS to register the tool by hand."""
    tool = describe_tool()
    return {
        "title": tool.name,
        "description": tool.description,
        "domain": tool.domain,
        "login_url": tool.login_url,
        "launch_url": tool.launch_url,
        "redirect_uris": [tool.launch_url],
        "target_link_uri": tool.launch_url,
        "deep_linking_url": tool.launch_url,
        "jwks_url": tool.jwks_url,
        "dynamic_registration_url": tool.register_url,
        "logo_url": tool.logo_url,
        "scopes": list(tool.scopes),
        "claims": list(tool.claims),
        "messages": tool_messages(tool),
        "custom_parameters": {},
        "canvas_developer_key_url": tool.config_url + "/canvas.json",
        "registration_requires_invite": not current_app.config.get("LTI_REGISTRATION_OPEN"),
    }


def canvas_developer_key() -> dict:
    """A Canvas developer key's JSON configuration (Developer Keys › + LTI Key › Paste JSON)."""
    tool = describe_tool()
    placements = [
        {
            "placement": placement,
            "message_type": "LtiDeepLinkingRequest",
            "target_link_uri": tool.launch_url,
            "text": tool.name,
            "icon_url": tool.logo_url,
        }
        for placement in ("assignment_selection", "link_selection")
    ]
    return {
        "title": tool.name,
        "description": tool.description,
        "oidc_initiation_url": tool.login_url,
        "target_link_uri": tool.launch_url,
        "public_jwk_url": tool.jwks_url,
        "scopes": list(tool.scopes),
        "extensions": [
            {
                "platform": "canvas.instructure.com",
                "domain": tool.host,
                "tool_id": "micro-credential-bridge",
                "privacy_level": "public",
                "settings": {"text": tool.name, "icon_url": tool.logo_url, "placements": placements},
            }
        ],
        # The activity's micro-credential comes from deep linking; this one only helps support.
        "custom_fields": {"canvas_course_id": "$Canvas.course.id"},
    }


@bp.get("/lti/config")
def config_page():
    """Every URL and scope an admin needs for manual registration, on one page."""
    document = config_document()
    return render_template("lti/config.html", doc=document, canvas=canvas_developer_key())


@bp.get("/lti/config.json")
def config_json():
    return jsonify(config_document())


@bp.get("/lti/config/canvas.json")
def canvas_json():
    return jsonify(canvas_developer_key())


@bp.get("/lti/logo.svg")
def logo():
    """The tool's logo, sent to platforms in its registration."""
    response = current_app.response_class(LOGO_SVG, mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response
