"""Admin view of the outbox: what is waiting for the LMS, what failed, what became out of date, and what the
platform does not accept (progress-only scores)."""

from flask import Blueprint, current_app, redirect, render_template

from lti_tool.catalog.services import current_term
from lti_tool.core.dates import zone_note, zone_of
from lti_tool.core.errors import NotFound
from lti_tool.gradebook.models import SUPERSEDED_TEXT, OutboxStatus
from lti_tool.gradebook.queries import find_message, find_registration, latest_messages, retrying_messages
from lti_tool.gradebook.services import (
    newer_sent_by_message,
    outbox_counts,
    refusal_deadline,
    resume_progress_scores,
    retry_message,
)
from lti_tool.lti.launch_context import current_launch, launch_url_for, require_duty
from lti_tool.mail import outbox as mail_outbox

bp = Blueprint("outbox", __name__, url_prefix="/admin/outbox")

FAILED_SHOWN = 200
RETRYING_SHOWN = 100
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
    term = current_term()  # times in the current term's zone, named (lti_tool.core.dates)
    return render_template(
        "gradebook/outbox.html",
        time_zone=zone_of(term),
        zone_note=zone_note(term),
        registration=find_registration(registration_id),
        counts=outbox_counts(registration_id),
        retrying=retrying_messages(registration_id, RETRYING_SHOWN),
        refusal_deadline=refusal_deadline,
        refused_retry_days=f"{current_app.config['OUTBOX_REFUSED_RETRY_SECONDS'] / 86400:g}",
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


@bp.post("/progress-scores/resume")
@require_duty("admin")
def resume_progress():
    """The platform was changed to accept progress-only scores: send them there again."""
    resume_progress_scores(find_registration(_registration_id()))
    return redirect(launch_url_for("outbox.index", _anchor="progress-scores"))


@bp.post("/mail/<int:message_id>/retry")
@require_duty("admin")
def retry_mail(message_id: int):
    message = mail_outbox.find_mail(_registration_id(), message_id)
    if message is None:
        raise NotFound("There is no such email.")
    mail_outbox.retry(message)
    return redirect(launch_url_for("outbox.index", _anchor="email"))
