"""Admin view of the outbox: what is waiting for the LMS, what failed and what became out of date."""

from flask import Blueprint, redirect, render_template

from lti_tool.core.errors import NotFound
from lti_tool.gradebook.models import SUPERSEDED_TEXT, OutboxStatus
from lti_tool.gradebook.queries import find_message, latest_messages
from lti_tool.gradebook.services import newer_sent_by_message, outbox_counts, retry_message
from lti_tool.lti.launch_context import current_launch, launch_url_for, require_duty
from lti_tool.mail import outbox as mail_outbox

bp = Blueprint("outbox", __name__, url_prefix="/admin/outbox")

FAILED_SHOWN = 200
SUPERSEDED_SHOWN = 50
FAILED_MAIL_SHOWN = 100


def _registration_id() -> int:
    """An admin sees the outbox of their own platform only."""
    return current_launch().deployment.registration_id


@bp.get("/")
@require_duty("admin")
def index():
    registration_id = _registration_id()
    failed = latest_messages(registration_id, OutboxStatus.FAILED, FAILED_SHOWN)
    return render_template(
        "gradebook/outbox.html",
        counts=outbox_counts(registration_id),
        failed=failed,
        went_ahead=newer_sent_by_message(failed),  # later scores of the same person sent past a failed one
        superseded=latest_messages(registration_id, OutboxStatus.SUPERSEDED, SUPERSEDED_SHOWN),
        superseded_text=SUPERSEDED_TEXT,
        mail_counts=mail_outbox.mail_counts(registration_id),
        failed_mail=mail_outbox.failed_mail(registration_id, FAILED_MAIL_SHOWN),
        superseded_mail=mail_outbox.superseded_mail(registration_id, SUPERSEDED_SHOWN),
    )


@bp.post("/<int:message_id>/retry")
@require_duty("admin")
def retry(message_id: int):
    message = find_message(_registration_id(), message_id)
    if message is None:
        raise NotFound("There is no such message.")
    retry_message(message)  # or `superseded`, when a newer score of the person was sent already
    return redirect(launch_url_for("outbox.index", _anchor=f"message-{message.id}"))


@bp.post("/mail/<int:message_id>/retry")
@require_duty("admin")
def retry_mail(message_id: int):
    message = mail_outbox.find_mail(_registration_id(), message_id)
    if message is None:
        raise NotFound("There is no such email.")
    mail_outbox.retry(message)
    return redirect(launch_url_for("outbox.index", _anchor="email"))
