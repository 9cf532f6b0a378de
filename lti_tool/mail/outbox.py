"""The mail outbox: emails queued in the transaction that causes them, rendered and sent later by the worker.

`enqueue` adds a row and never commits. The worker (`run_once`, called each round of
`gradebook.worker.run_forever`) claims due rows with one conditional UPDATE that sets a lease, exactly like the
score outbox: on PostgreSQL the candidates are picked `FOR UPDATE SKIP LOCKED`, on SQLite the UPDATE itself is
serialised. A worker that dies between claiming and recording leaves its rows `sending`; once the lease has run
out another worker claims them again, so no message is lost (one may, rarely, go out twice: at least once).
Right before each message is handed to the mail server the worker renews the lease of that message and of the rest
of its batch; a lease is longer than one whole SMTP conversation, so while a worker is alive and sending, nothing
it holds runs out — another worker never sends a message that is still being sent.

Each kind of email has a renderer, `fn(payload) -> EmailMessage`, registered with `register_renderer` and run at
send time: the payload carries ids and absolute URLs computed when the email was queued, never a request.
Renderers only read; anything they change in the database is rolled back. A renderer that finds the email should
no longer go out (its badge was revoked since) raises `Superseded`: the row ends `superseded`, never retried.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, parseaddr

from flask import Flask, current_app
from sqlalchemy import and_, func, or_, update

from lti_tool.core.errors import Conflict, InvalidInput
from lti_tool.core.models import utcnow
from lti_tool.extensions import db
from lti_tool.mail import transport
from lti_tool.mail.models import MailMessage, MailStatus

Renderer = Callable[[dict], EmailMessage]

MAX_ERROR_LENGTH = 2000
MAX_SUBJECT_LENGTH = 300
_renderers: dict[str, Renderer] = {}


class UnknownKind(Exception):
    """No renderer is registered for a message's kind in this process."""


class Superseded(Exception):
    """Raised by a renderer: this email must not be sent any more, for `reason` (shown to admins as "not sent:
    reason"). `subject` is what it would have been, so that the admins recognise it."""

    def __init__(self, reason: str, *, subject: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.subject = subject


# -- queueing (web requests and services: no commit) ----------------------------------------------------------
def register_renderer(kind: str, fn: Renderer) -> None:
    """Say how to build emails of `kind`: `fn(payload)` returns the EmailMessage (To, From, Subject, bodies,
    attachments; To and From default to the row's address and MAIL_FROM). Register at import of a module that
    `create_app` imports, so that web and worker processes both know it."""
    if not kind or len(kind) > 40:
        raise ValueError("A mail kind is 1 to 40 characters.")
    _renderers[kind] = fn


def enqueue(kind: str, to_address: str, payload: dict) -> MailMessage:
    """Queue an email, written with the change that causes it (added to the session; the caller commits).

    `payload` is JSON: ids and absolute URLs, and `registration_id` (an int) so that the admins of that platform
    see the message on their outbox page.
    """
    if not kind or len(kind) > 40:
        raise InvalidInput("A mail kind is 1 to 40 characters.")
    address = (to_address or "").strip()
    if (not address or len(address) > 500 or "\r" in address or "\n" in address or "@" not in address
            or parseaddr(address)[1] != address):
        raise InvalidInput(f"{to_address!r} is not an email address.")
    registration_id = payload.get("registration_id")
    if registration_id is not None and (not isinstance(registration_id, int) or isinstance(registration_id, bool)):
        raise InvalidInput("registration_id in a mail payload is an integer.")
    try:
        payload = json.loads(json.dumps(payload))  # refused now, not at the caller's commit
    except (TypeError, ValueError) as error:
        raise InvalidInput(f"A mail payload must be JSON: {error}") from None
    message = MailMessage(
        kind=kind,
        to_address=address,
        payload=payload,
        status=MailStatus.PENDING.value,
        attempts=0,
        next_attempt_at=utcnow(),
    )
    db.session.add(message)
    return message


def retry(message: MailMessage) -> MailMessage:
    """An admin sends a failed email again: due now, with a fresh count of attempts (flushes, never commits)."""
    if message.status != MailStatus.FAILED.value:
        raise Conflict("Only an email that failed can be sent again.")
    message.status = MailStatus.PENDING.value
    message.attempts = 0
    message.next_attempt_at = utcnow()
    message.leased_until = None
    message.leased_by = None
    db.session.flush()
    return message


# -- what the admins' outbox page reads ------------------------------------------------------------------------
def _of_registration(registration_id: int):
    return MailMessage.payload["registration_id"].as_integer() == registration_id


def failed_mail(registration_id: int, limit: int) -> list[MailMessage]:
    """The newest failed emails queued for one platform."""
    return db.session.scalars(
        db.select(MailMessage)
        .where(_of_registration(registration_id), MailMessage.status == MailStatus.FAILED.value)
        .order_by(MailMessage.id.desc())
        .limit(limit)
    ).all()


def superseded_mail(registration_id: int, limit: int) -> list[MailMessage]:
    """The newest emails of one platform that were not sent because they no longer applied."""
    return db.session.scalars(
        db.select(MailMessage)
        .where(_of_registration(registration_id), MailMessage.status == MailStatus.SUPERSEDED.value)
        .order_by(MailMessage.id.desc())
        .limit(limit)
    ).all()


def mail_counts(registration_id: int) -> dict[str, int]:
    """How many emails of one platform are in each status."""
    counts = {status.value: 0 for status in MailStatus}
    counts.update(dict(db.session.execute(
        db.select(MailMessage.status, func.count())
        .where(_of_registration(registration_id))
        .group_by(MailMessage.status)
    ).all()))
    return counts


def find_mail(registration_id: int, message_id: int) -> MailMessage | None:
    """An email of this platform; None for one that does not exist or belongs to another platform."""
    message = db.session.get(MailMessage, message_id)
    if message is None or (message.payload or {}).get("registration_id") != registration_id:
        return None
    return message


# -- the worker ------------------------------------------------------------------------------------------------
def lease_seconds() -> float:
    """How long a claimed email is a worker's own: longer than one SMTP conversation can take. The lease is renewed
    right before each message is sent, so this bounds one conversation, not a batch (MAIL_LEASE_SECONDS, when set,
    must be longer than the longest conversation too)."""
    configured = current_app.config.get("MAIL_LEASE_SECONDS")
    if configured:
        return float(configured)
    # connect, EHLO, STARTTLS, EHLO, AUTH, MAIL, RCPT, DATA, the body, QUIT: each may wait a whole timeout.
    return 10 * float(current_app.config["MAIL_SMTP_TIMEOUT"]) + 30


def backoff_seconds(attempts: int) -> float:
    """base × 2^(attempts-1), capped (30 s, 1 min, 2 min … 1 h by default)."""
    config = current_app.config
    delay = float(config["MAIL_BACKOFF_BASE_SECONDS"]) * 2 ** max(attempts - 1, 0)
    return min(delay, float(config["MAIL_BACKOFF_MAX_SECONDS"]))


def _due(now):
    return or_(
        and_(MailMessage.status == MailStatus.PENDING.value, MailMessage.next_attempt_at <= now),
        and_(MailMessage.status == MailStatus.SENDING.value, MailMessage.leased_until < now),
    )


def claim(worker_id: str, limit: int) -> list[int]:
    """Lease up to `limit` due emails to this worker in one UPDATE and commit; their ids, oldest first."""
    now = utcnow()
    candidates = db.select(MailMessage.id).where(_due(now)).order_by(MailMessage.id).limit(limit)
    if db.engine.dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    claimed = db.session.scalars(
        update(MailMessage)
        .where(MailMessage.id.in_(candidates.scalar_subquery()), _due(now))  # re-checked once the row is locked
        .values(status=MailStatus.SENDING.value, leased_until=now + timedelta(seconds=lease_seconds()),
                leased_by=worker_id)
        .returning(MailMessage.id)
        .execution_options(synchronize_session=False)
    ).all()
    db.session.commit()
    return sorted(claimed)


def _mine(message_id: int, worker_id: str):
    return (MailMessage.id == message_id, MailMessage.leased_by == worker_id,
            MailMessage.status == MailStatus.SENDING.value)


def _renew_lease(message_id: int, worker_id: str, held: Sequence[int] = ()) -> bool:
    """A full lease from now for this message and the rest of the worker's batch (`held`), in one UPDATE; whether
    this message is still ours (a row another worker took meanwhile is left alone)."""
    renewed = db.session.scalars(
        update(MailMessage)
        .where(MailMessage.id.in_([message_id, *held]), MailMessage.leased_by == worker_id,
               MailMessage.status == MailStatus.SENDING.value)
        .values(leased_until=utcnow() + timedelta(seconds=lease_seconds()))
        .returning(MailMessage.id)
        .execution_options(synchronize_session=False)
    ).all()
    db.session.commit()
    return message_id in renewed


def _finish(message_id: int, worker_id: str, **values) -> bool:
    """Record the outcome, only while the lease is still ours (else another worker owns the row now)."""
    result = db.session.execute(
        update(MailMessage).where(*_mine(message_id, worker_id))
        .values(leased_until=None, leased_by=None, **values)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount == 1


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _complete_headers(email: EmailMessage, message: MailMessage) -> None:
    """To and From by default; a Date and a Message-ID that stays the same when the email is sent again."""
    if "To" not in email:
        email["To"] = message.to_address
    addressed = [address.lower() for _, address in getaddresses(email.get_all("To", []))]
    if addressed != [message.to_address.lower()]:
        raise ValueError(f"the renderer addressed the email to {', '.join(addressed) or 'nobody'}, "
                         f"not to {message.to_address}")
    for header in ("Cc", "Bcc"):
        if header in email:
            raise ValueError(f"the renderer added {header}: an email of the outbox has one recipient")
    sender = current_app.config["MAIL_FROM"]
    if "From" not in email:
        email["From"] = sender
    if "Date" not in email:
        email["Date"] = format_datetime(utcnow())
    if "Message-ID" not in email:
        domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
        email["Message-ID"] = f"<mail-{message.id}.{message.created_at:%Y%m%d%H%M%S}@{domain}>"


def _render(message: MailMessage) -> EmailMessage:
    renderer = _renderers.get(message.kind)
    if renderer is None:
        raise UnknownKind(message.kind)
    email = renderer(dict(message.payload or {}))
    if not isinstance(email, EmailMessage):
        raise TypeError(f"the renderer returned {type(email).__name__}, not an EmailMessage")
    _complete_headers(email, message)
    return email


def process(message_id: int, worker_id: str, *, held: Sequence[int] = ()) -> str | None:
    """Render, send and record one leased email; its new status (None when it is no longer ours).

    `held`: the rest of this worker's batch, whose lease is renewed with this message's right before it is sent.
    """
    message = db.session.get(MailMessage, message_id)
    if message is None or message.status != MailStatus.SENDING.value or message.leased_by != worker_id:
        db.session.rollback()
        return None
    attempts = message.attempts + 1
    try:
        email = _render(message)
    except Superseded as decision:
        db.session.rollback()
        values = {"status": MailStatus.SUPERSEDED.value, "last_error": (decision.reason or "")[:MAX_ERROR_LENGTH]}
        if decision.subject:
            values["subject"] = _one_line(decision.subject)[:MAX_SUBJECT_LENGTH]
        if _finish(message_id, worker_id, **values):
            current_app.logger.info("mail %s not sent: %s", message_id, decision.reason)
            return MailStatus.SUPERSEDED.value
        return None
    except UnknownKind:
        db.session.rollback()
        # A worker started from an older release, or a module not imported: wait for one that knows the kind.
        return _record_failure(message_id, worker_id, attempts, None,
                               f"No renderer is registered for mail of kind {message.kind!r}.", permanent=False)
    except Exception as error:
        current_app.logger.exception("mail %s: the renderer of %r failed", message_id, message.kind)
        db.session.rollback()
        return _record_failure(message_id, worker_id, attempts, None,
                               f"The email could not be composed: {error!r}", permanent=True)
    subject = str(email.get("Subject", ""))[:MAX_SUBJECT_LENGTH]
    db.session.rollback()  # renderers only read; and no transaction stays open during the SMTP conversation
    # A full lease from the moment it is handed over: the conversation cannot outlast it (`lease_seconds`), and a
    # message another worker took while this one was rendered (its lease had run out) is left to that worker.
    if not _renew_lease(message_id, worker_id, held):
        return None
    try:
        transport.send(current_app._get_current_object(), email, mail_id=message_id)
    except transport.DeliveryError as error:
        return _record_failure(message_id, worker_id, attempts, subject, error.message, permanent=error.permanent)
    except Exception as error:  # a bug in the transport: try again later; the attempt limit ends it
        current_app.logger.exception("mail %s: unexpected error while sending", message_id)
        return _record_failure(message_id, worker_id, attempts, subject, f"Unexpected error: {error!r}",
                               permanent=False)
    if _finish(message_id, worker_id, status=MailStatus.SENT.value, sent_at=utcnow(), attempts=attempts,
               subject=subject, last_error=None):
        current_app.logger.info("mail %s sent", message_id)
        return MailStatus.SENT.value
    return None


def _record_failure(message_id: int, worker_id: str, attempts: int, subject: str | None, text: str, *,
                    permanent: bool) -> str | None:
    values = {"attempts": attempts, "last_error": (text or "")[:MAX_ERROR_LENGTH]}
    if subject is not None:
        values["subject"] = subject
    if not permanent and attempts < current_app.config["MAIL_MAX_ATTEMPTS"]:
        delay = backoff_seconds(attempts)
        values.update(status=MailStatus.PENDING.value, next_attempt_at=utcnow() + timedelta(seconds=delay))
        current_app.logger.warning("mail %s: retry in %.0fs after: %s", message_id, delay, text)
    else:
        values.update(status=MailStatus.FAILED.value)
        current_app.logger.error("mail %s failed: %s", message_id, text)
    if _finish(message_id, worker_id, **values):
        return values["status"]
    return None


def run_once(app: Flask, *, worker_id: str | None = None, limit: int | None = None) -> int:
    """Claim one batch of due emails and send them one by one; how many were claimed (0: nothing was due)."""
    worker_id = worker_id or uuid.uuid4().hex
    with app.app_context():
        try:
            claimed = claim(worker_id, limit or app.config["MAIL_BATCH_SIZE"])
            for position, message_id in enumerate(claimed):
                try:
                    process(message_id, worker_id, held=claimed[position + 1:])
                except Exception:  # the database went away mid-message: the lease brings it back later
                    db.session.rollback()
                    app.logger.exception("mail %s: could not be processed; it is claimed again later", message_id)
            return len(claimed)
        finally:
            db.session.remove()
