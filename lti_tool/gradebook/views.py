"""Admin view of the outbox: what is waiting for the LMS and what failed."""

from flask import Blueprint, redirect, render_template

from lti_tool.core.errors import NotFound
from lti_tool.extensions import db
from lti_tool.gradebook.models import OutboxMessage, OutboxStatus
from lti_tool.gradebook.services import outbox_counts, retry_message
from lti_tool.lti.launch_context import current_launch, launch_url_for, require_duty

bp = Blueprint("outbox", __name__, url_prefix="/admin/outbox")

FAILED_SHOWN = 200


def _registration_id() -> int:
    """An admin sees the outbox of their own platform only."""
    return current_launch().deployment.registration_id


@bp.get("/")
@require_duty("admin")
def index():
    registration_id = _registration_id()
    failed = db.session.scalars(
        db.select(OutboxMessage)
        .where(OutboxMessage.registration_id == registration_id, OutboxMessage.status == OutboxStatus.FAILED.value)
        .order_by(OutboxMessage.id.desc())
        .limit(FAILED_SHOWN)
    ).all()
    return render_template("gradebook/outbox.html", counts=outbox_counts(registration_id), failed=failed)


@bp.post("/<int:message_id>/retry")
@require_duty("admin")
def retry(message_id: int):
    message = db.session.get(OutboxMessage, message_id)
    if message is None or message.registration_id != _registration_id():
        raise NotFound("There is no such message.")
    retry_message(message)
    return redirect(launch_url_for("outbox.index"))
