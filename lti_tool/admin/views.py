"""Admin views: the registered platforms and their deployments, and where to register more."""

from flask import Blueprint, render_template, url_for

from lti_tool.lti import roles
from lti_tool.lti.launch_context import current_launch, require_duty
from lti_tool.lti.registration import describe_tool

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.get("/")
@require_duty(roles.ADMIN)
def index():
    """This platform's registration with its deployments (never another platform's), and the registration URLs."""
    launch = current_launch()
    return render_template(
        "admin/index.html",
        launch=launch,
        registrations=[launch.deployment.registration],
        tool=describe_tool(),
        config_url=url_for("registration.config_page"),
        config_json_url=url_for("registration.config_json"),
        canvas_json_url=url_for("registration.canvas_json"),
    )
