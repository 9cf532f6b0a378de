"""The badge emails, built at send time by the mail worker from the ids in their payload.

- `badge_issued` (also "email it to myself"): the baked PNG and the printable record of completion attached.
- `badge_revoked`, `badge_reinstated`: the earner is told, with the reason.
- `email_confirmation`: the link that proves an address when the LMS shared none.
"""

from __future__ import annotations

from email.message import EmailMessage

from flask import current_app, render_template

from lti_tool.badges import artwork
from lti_tool.badges.models import Badge
from lti_tool.badges.record import record_of_completion_pdf
from lti_tool.extensions import db
from lti_tool.mail import outbox


def _message(to: str, subject: str, template: str, **context) -> EmailMessage:
    message = EmailMessage()
    message["To"] = to
    message["From"] = current_app.config["MAIL_FROM"]
    message["Subject"] = subject
    context["tool_name"] = current_app.config["LTI_TOOL_NAME"]
    message.set_content(render_template(f"mail/{template}.txt", **context))
    message.add_alternative(render_template(f"mail/{template}.html", **context), subtype="html")
    return message


def _badge(payload: dict) -> Badge:
    badge = db.session.scalar(db.select(Badge).where(Badge.uuid == payload["badge_uuid"]))
    if badge is None:
        raise LookupError(f"badge {payload['badge_uuid']} no longer exists")
    return badge


def record_pdf(badge: Badge, verify_url: str, badge_png: bytes | None = None) -> bytes:
    microcredential = badge.microcredential
    return record_of_completion_pdf(
        earner_name=badge.earner_name or "The earner", microcredential=microcredential.title,
        organization=badge.issuer_profile.name, issued_on=badge.issued_at.date(),
        inservice_hours=microcredential.inservice_hours, verify_url=verify_url,
        credential_id=badge.uuid, badge_png=badge_png)


def render_issued(payload: dict) -> EmailMessage:
    badge = _badge(payload)
    png = artwork.baked_png(badge)
    title = badge.microcredential.title
    message = _message(badge.recipient_email, f"You earned the micro-credential “{title}”", "badge_issued",
                       badge=badge, verify_url=payload["verify_url"])
    slug = badge.microcredential.slug
    message.add_attachment(png, maintype="image", subtype="png", filename=f"{slug}-badge.png")
    message.add_attachment(record_pdf(badge, payload["verify_url"], png), maintype="application", subtype="pdf",
                           filename=f"{slug}-record-of-completion.pdf")
    return message


def render_revoked(payload: dict) -> EmailMessage:
    badge = _badge(payload)
    return _message(badge.recipient_email, f"Your badge “{badge.microcredential.title}” was revoked",
                    "badge_revoked", badge=badge, verify_url=payload["verify_url"])


def render_reinstated(payload: dict) -> EmailMessage:
    badge = _badge(payload)
    return _message(badge.recipient_email, f"Your badge “{badge.microcredential.title}” is valid again",
                    "badge_reinstated", badge=badge, verify_url=payload["verify_url"])


def render_confirmation(payload: dict) -> EmailMessage:
    return _message(payload["email"], "Confirm your email address for your badges", "email_confirmation",
                    confirm_url=payload["confirm_url"], earner_name=payload.get("earner_name"))


def register() -> None:
    outbox.register_renderer("badge_issued", render_issued)
    outbox.register_renderer("badge_revoked", render_revoked)
    outbox.register_renderer("badge_reinstated", render_reinstated)
    outbox.register_renderer("email_confirmation", render_confirmation)
