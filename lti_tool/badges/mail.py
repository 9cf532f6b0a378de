"""The badge emails, built at send time by the mail worker from their payload.

- `badge_issued` (also "email it to myself"): the baked PNG and the printable record of completion attached.
- `badge_revoked`, `badge_reinstated`: the earner is told, with the reason.
- `email_confirmation`: the link that proves an address when the LMS shared none.

An email tells what happened when it was queued, not what the badge is when the worker gets to it: the title, the
issuer's name, the reason and the date of a revocation come from the payload (`issuing.mail_payload`); the row is
read only for what a payload of an older release lacks. One exception: a badge is never sent as an attachment
once it is no longer issued — that issue email is `Superseded` (the revocation email tells the earner).
"""

from __future__ import annotations

from datetime import date
from email.message import EmailMessage

from flask import current_app, render_template

from lti_tool.badges import artwork
from lti_tool.badges.models import Badge
from lti_tool.badges.record import record_of_completion_pdf
from lti_tool.extensions import db
from lti_tool.mail import outbox


def one_line(text: str | None) -> str:
    """Any run of whitespace (a newline in a title) as one space: a header value never breaks."""
    return " ".join(str(text or "").split())


def _message(to: str, subject: str, template: str, **context) -> EmailMessage:
    message = EmailMessage()
    message["To"] = to
    message["From"] = current_app.config["MAIL_FROM"]
    message["Subject"] = one_line(subject)
    context["tool_name"] = current_app.config["LTI_TOOL_NAME"]
    message.set_content(render_template(f"mail/{template}.txt", **context))
    message.add_alternative(render_template(f"mail/{template}.html", **context), subtype="html")
    return message


def _badge(payload: dict) -> Badge:
    badge = db.session.scalar(db.select(Badge).where(Badge.uuid == payload["badge_uuid"]))
    if badge is None:
        raise LookupError(f"badge {payload['badge_uuid']} no longer exists")
    return badge


def _as_queued(payload: dict, badge: Badge) -> dict:
    """The badge as it was when the email was queued: the payload's values; the row's for a key the payload
    lacks (queued by an older release). A key present with None (no reason: not revoked) stays None."""
    def taken(key, from_row):
        return payload[key] if key in payload else from_row()

    revoked_on = taken("revoked_on", lambda: badge.revoked_at.date().isoformat() if badge.revoked_at else None)
    return {
        "title": one_line(taken("title", lambda: badge.microcredential.title)),
        "issuer_name": taken("issuer_name", lambda: badge.issuer_profile.name),
        "reason": taken("reason", lambda: badge.revocation_reason),
        "revoked_on": date.fromisoformat(revoked_on) if revoked_on else None,
        "verify_url": payload["verify_url"],
    }


def record_pdf(badge: Badge, verify_url: str, badge_png: bytes | None = None, *, title: str | None = None,
               issuer_name: str | None = None) -> bytes:
    """The printable record of completion (`title`, `issuer_name`: as the email tells them; else the row's)."""
    microcredential = badge.microcredential
    return record_of_completion_pdf(
        earner_name=badge.earner_name or "The earner", microcredential=title or microcredential.title,
        organization=issuer_name or badge.issuer_profile.name, issued_on=badge.issued_at.date(),
        inservice_hours=microcredential.inservice_hours, verify_url=verify_url,
        credential_id=badge.uuid, badge_png=badge_png)


def render_issued(payload: dict) -> EmailMessage:
    badge = _badge(payload)
    told = _as_queued(payload, badge)
    subject = f"You earned the micro-credential “{told['title']}”"
    if not badge.is_issued:  # revoked while the email waited: the badge must not go out attached
        raise outbox.Superseded(f"the badge was {badge.status.replace('_', ' ')} before the email went out",
                                subject=subject)
    png = artwork.baked_png(badge)
    message = _message(badge.recipient_email, subject, "badge_issued", badge=badge, **told)
    slug = badge.microcredential.slug
    message.add_attachment(png, maintype="image", subtype="png", filename=f"{slug}-badge.png")
    pdf = record_pdf(badge, told["verify_url"], png, title=told["title"], issuer_name=told["issuer_name"])
    message.add_attachment(pdf, maintype="application", subtype="pdf", filename=f"{slug}-record-of-completion.pdf")
    return message


def render_revoked(payload: dict) -> EmailMessage:
    badge = _badge(payload)
    told = _as_queued(payload, badge)
    return _message(badge.recipient_email, f"Your badge “{told['title']}” was revoked", "badge_revoked",
                    badge=badge, **told)


def render_reinstated(payload: dict) -> EmailMessage:
    badge = _badge(payload)
    told = _as_queued(payload, badge)
    return _message(badge.recipient_email, f"Your badge “{told['title']}” is valid again", "badge_reinstated",
                    badge=badge, **told)


def render_confirmation(payload: dict) -> EmailMessage:
    return _message(payload["email"], "Confirm your email address for your badges", "email_confirmation",
                    confirm_url=payload["confirm_url"], earner_name=payload.get("earner_name"))


def register() -> None:
    outbox.register_renderer("badge_issued", render_issued)
    outbox.register_renderer("badge_revoked", render_revoked)
    outbox.register_renderer("badge_reinstated", render_reinstated)
    outbox.register_renderer("email_confirmation", render_confirmation)
