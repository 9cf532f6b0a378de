"""Gradebook models: the durable outbox of everything the tool sends to an LMS."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.core.models import UTCTimestamp, utcnow
from lti_tool.extensions import db
from lti_tool.lti.models import LineItem, LtiUser, Registration, ResourceLink


class OutboxStatus(StrEnum):
    PENDING = "pending"  # waiting for its turn (next_attempt_at)
    SENDING = "sending"  # claimed by a worker until leased_until; retried by another worker after that
    SENT = "sent"
    FAILED = "failed"  # the LMS refused it (4xx) or it ran out of attempts: shown to admins
    SUPERSEDED = "superseded"  # never sent: a later score of its ordering key was already sent (see retry)
    DECLINED = "declined"  # a progress-only score the platform does not accept: not a failure, never retried


class OutboxKind(StrEnum):
    SCORE = "score"  # AGS 2.0 §3.4: a score POSTed to <line item>/scores


UNSENT_STATUSES = (OutboxStatus.PENDING.value, OutboxStatus.SENDING.value)

SUPERSEDED_TEXT = "A newer score for this person was already sent; this one is out of date"
DECLINED_TEXT = "This LMS does not accept progress-only scores; only final scores are sent there"


def is_progress_only(score: dict) -> bool:
    """A score without scoreGiven (a draft, a submission waiting for its decision): AGS 2.0 §3.4 allows it, yet
    some LMSs refuse it (see `Registration.progress_scores_refused_at`)."""
    return score.get("scoreGiven") is None


class OutboxMessage(db.Model):
    """One message for an LMS, written in the same transaction as the change that causes it.

    Messages with the same ordering key (resource link, user) are sent strictly in `id` order: a message is
    not claimed while an earlier one of its key is still unsent. The resource link stands for its line item
    (one per resource link), which may not be known yet when the message is written.

    A failed message does not hold back the later ones of its key (they go ahead). It is then out of date:
    sent again by an admin, it would overwrite a newer score in the LMS, so it becomes `superseded` instead.
    """

    __tablename__ = "gradebook_outbox_message"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'failed', 'superseded', 'declined')", name="status_known"
        ),
        CheckConstraint("kind IN ('score')", name="kind_known"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        CheckConstraint("status <> 'sending' OR leased_until IS NOT NULL", name="sending_has_lease"),
        CheckConstraint("status <> 'sent' OR sent_at IS NOT NULL", name="sent_has_sent_at"),
        Index("ix_gradebook_outbox_message_due", "status", "next_attempt_at"),
        Index("ix_gradebook_outbox_message_order", "resource_link_id", "user_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)  # the sequence within an ordering key
    kind: Mapped[str] = mapped_column(String(20), default=OutboxKind.SCORE.value)
    registration_id: Mapped[int] = mapped_column(ForeignKey("lti_registration.id", ondelete="CASCADE"), index=True)
    resource_link_id: Mapped[int] = mapped_column(ForeignKey("lti_resource_link.id", ondelete="CASCADE"))
    line_item_id: Mapped[int | None] = mapped_column(ForeignKey("lti_line_item.id", ondelete="SET NULL"))
    user_id: Mapped[int] = mapped_column(ForeignKey("lti_user.id", ondelete="CASCADE"))
    payload: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default=OutboxStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCTimestamp(), default=utcnow)
    leased_until: Mapped[datetime | None] = mapped_column(UTCTimestamp())
    leased_by: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    last_status_code: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCTimestamp(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCTimestamp())

    registration: Mapped[Registration] = relationship()
    resource_link: Mapped[ResourceLink] = relationship()
    line_item: Mapped[LineItem | None] = relationship()
    user: Mapped[LtiUser] = relationship()

    @property
    def is_failed(self) -> bool:
        return self.status == OutboxStatus.FAILED

    @property
    def is_superseded(self) -> bool:
        return self.status == OutboxStatus.SUPERSEDED

    @property
    def is_declined(self) -> bool:
        return self.status == OutboxStatus.DECLINED

    @property
    def is_retrying(self) -> bool:
        """Waiting for its next attempt after the LMS failed it or refused the tool (shown to admins)."""
        return self.status == OutboxStatus.PENDING and self.attempts > 0

    @property
    def can_retry(self) -> bool:
        """Only a failed message goes back to the queue (an admin's retry)."""
        return self.status == OutboxStatus.FAILED

    def __repr__(self) -> str:
        return f"<OutboxMessage {self.id} {self.kind} {self.status}>"
