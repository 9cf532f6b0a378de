"""What the admins' outbox page reads: one platform's messages, newest first (no changes here)."""

from __future__ import annotations

from lti_tool.extensions import db
from lti_tool.gradebook.models import OutboxMessage, OutboxStatus
from lti_tool.lti.models import Registration


def latest_messages(registration_id: int, status: OutboxStatus, limit: int) -> list[OutboxMessage]:
    """The newest messages of one platform in one state."""
    return db.session.scalars(
        db.select(OutboxMessage)
        .where(OutboxMessage.registration_id == registration_id, OutboxMessage.status == status.value)
        .order_by(OutboxMessage.id.desc())
        .limit(limit)
    ).all()


def find_message(registration_id: int, message_id: int) -> OutboxMessage | None:
    """A message of this platform; None for one that does not exist or belongs to another platform."""
    message = db.session.get(OutboxMessage, message_id)
    if message is None or message.registration_id != registration_id:
        return None
    return message


def retrying_messages(registration_id: int, limit: int) -> list[OutboxMessage]:
    """Messages of one platform waiting for their next attempt after a failure or a refusal, soonest first."""
    return db.session.scalars(
        db.select(OutboxMessage)
        .where(
            OutboxMessage.registration_id == registration_id,
            OutboxMessage.status == OutboxStatus.PENDING.value,
            OutboxMessage.attempts > 0,
        )
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
    ).all()


def find_registration(registration_id: int) -> Registration:
    """The admin's platform (what it refuses is shown on the outbox page)."""
    return db.session.get(Registration, registration_id)
