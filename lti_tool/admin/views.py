"""Admin views: the registered platforms and their deployments, and where to register more."""

from flask import Blueprint, render_template, url_for

from lti_tool.core.models import utcnow
from lti_tool.lti import roles
from lti_tool.lti.launch_context import current_launch, require_duty
from lti_tool.lti.registration import describe_tool, list_invites, list_registrations

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.get("/")
@require_duty(roles.ADMIN)
def index():
    """Registered platforms with their deployments, open invites, and the registration URLs."""
    return render_template(
        "admin/index.html",
        launch=current_launch(),
        registrations=list_registrations(),
        invites=[i for i in list_invites() if i.used_at is None and i.expires_at > utcnow()],
        tool=describe_tool(),
        config_url=url_for("registration.config_page"),
        config_json_url=url_for("registration.config_json"),
        canvas_json_url=url_for("registration.canvas_json"),
    )
