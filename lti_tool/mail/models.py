"""The mail outbox: one row per email, rendered and sent by the worker (SMTP, or files in development)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, CheckConstraint, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from lti_tool.core.models import UTCTimestamp, utcnow
from lti_tool.extensions import db

__all__ = ["MailMessage", "MailStatus"]


class MailStatus(StrEnum):
    PENDING = "pending"  # waiting for next_attempt_at
    SENDING = "sending"  # claimed by a worker until leased_until
    SENT = "sent"
    FAILED = "failed"  # refused for good (a bad address) or out of attempts: shown to admins, retryable
    SUPERSEDED = "superseded"  # its renderer said it must not go out any more (the badge was revoked): final


class MailMessage(db.Model):
    """An email to send. `kind` names the renderer that builds it at send time from `payload` (ids, not text),
    so that writing one costs the causing transaction nothing but this row; an SMTP server that is down
    delays it (retried with backoff), never loses it."""

    __tablename__ = "mail_message"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed', 'superseded')", name="status_known"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        CheckConstraint("status <> 'sending' OR leased_until IS NOT NULL", name="sending_has_lease"),
        Index("ix_mail_message_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    to_address: Mapped[str] = mapped_column(String(500))
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    subject: Mapped[str | None] = mapped_column(String(300))  # filled in when rendered, for the admin page
    status: Mapped[str] = mapped_column(String(20), default=MailStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCTimestamp(), default=utcnow)
    leased_until: Mapped[datetime | None] = mapped_column(UTCTimestamp())
    leased_by: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCTimestamp(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCTimestamp())

    def __repr__(self) -> str:
        return f"<MailMessage {self.id} {self.kind} {self.status}>"
