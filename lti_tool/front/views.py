"""`/`: the page a newcomer or an LMS admin opens first, outside any LMS."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, url_for

from lti_tool.catalog.services import list_microcredentials
from lti_tool.lti.registration import describe_tool

bp = Blueprint("front", __name__)


@bp.get("/")
def index():
    """What the tool is; the demo LMS where it runs (development); the catalog; the URLs an LMS admin registers.

    Everything else of the tool is opened from inside an LMS course, so this page links only to pages that work
    without a launch: the demo, each micro-credential's public criteria page, and the registration pages."""
    return render_template(
        "front/index.html",
        tool=describe_tool(),
        registration_open=current_app.config["LTI_REGISTRATION_OPEN"],
        demo_url=url_for("demo.course") if "demo" in current_app.blueprints else None,
        microcredentials=list_microcredentials(),
    )
