"""The outbox worker: claims due messages, sends them to the LMS in order, retries with backoff.

Claiming: on PostgreSQL `SELECT … FOR UPDATE SKIP LOCKED`, so that any number of workers never take the
same row; everywhere a conditional UPDATE that sets a lease (`status='sending'`, `leased_until`,
`leased_by`) and succeeds for one worker only. The lease is short (OUTBOX_LEASE_SECONDS, 30 s): while a batch is
out, the worker's heartbeat (`LeaseKeeper`) renews the batch's leases, however slow the LMS; a round that fails
puts its claims back in line at once. A worker that
dies stops renewing: another worker takes its rows once one short lease has run out, so nothing is lost and a
person's next score waits that long at most. The message may then reach the LMS twice (the dead worker's request
may have arrived); it carries the same `timestamp` both times, fixed when the score was queued and never stamped
again, and a platform keeps no score older than the one on record (AGS 2.0 §3.4.9): a repeat changes nothing.

A platform refusing the tool itself (401/403 on the token or the score call: a rotated key, a registration
switched off) is retried with backoff for OUTBOX_REFUSED_RETRY_SECONDS from the message's first try (an admin's
retry starts that again, see `services.refusal_deadline`), and the message goes by itself once the platform
accepts again; after that it fails and waits for an admin. The refusal is remembered per platform for a short
while (`access_tokens.remember_refusal`), so a batch asks a refusing platform once, not once per message.

A platform refusing a progress-only score (400/422 to a score without `scoreGiven`, its answer naming
scoreGiven/scoreMaximum) is learned for its registration: that message and every other unsent progress-only one
of the platform are `declined` (not
failures), and only final scores are sent there until an admin says otherwise.

Order: a message is never claimed while an earlier unsent message of the same resource link (line item)
and user exists, so scores reach the LMS in the order they arose even when one of them is retried. A
failed message does not hold the later ones back; if an admin retries it after a later one was sent, it is
not sent (`superseded`): the LMS keeps the last score it receives, and that must stay the newest one.

A line item deleted in the LMS (404 or 410 on its scores) is forgotten and looked up or created again on the
next attempt; a second 404/410 in a row fails the message for good.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta

from flask import Flask, current_app
from sqlalchemy import and_, delete, exists, or_, update
from sqlalchemy.orm import Session, aliased

from lti_tool.core.errors import DomainError
from lti_tool.core.models import utcnow
from lti_tool.extensions import db
from lti_tool.gradebook.models import (
    DECLINED_TEXT,
    UNSENT_STATUSES,
    OutboxKind,
    OutboxMessage,
    OutboxStatus,
    is_progress_only,
)
from lti_tool.gradebook.services import (
    backoff_seconds,
    decline_waiting_progress_scores,
    ensure_line_item,
    refusal_deadline,
)
from lti_tool.lti import ags
from lti_tool.lti.access_tokens import REFUSED_STATUSES, ServiceError
from lti_tool.lti.models import LineItem, Registration, ResourceLink
from lti_tool.mail import outbox as mail_outbox

MAX_ERROR_LENGTH = 2000
GONE_STATUSES = (404, 410)  # the line item is no longer there (deleted in the LMS)
PROGRESS_REFUSED_STATUSES = (400, 422)  # a progress-only score the platform does not take (scoreGiven required)
# The platform's answer must name the fields it wants for a refusal to be learned for the whole platform.
SCORE_FIELDS_NAMED = re.compile(r"score[ _-]?(given|maximum)", re.IGNORECASE)
HEARTBEAT_JOIN_SECONDS = 10.0  # the longest a finished batch waits for its heartbeat to stop
SENDS_PER_THREAD_PER_LEASE = 4  # sends one thread makes in a round (the batch's leases are checked before each)


class LineItemGone(ServiceError):
    """The LMS answered 404/410 to a score: the stored line item no longer exists there."""

    def __init__(self, error: ServiceError, line_item_id: int, url: str):
        super().__init__(error.message, status=error.status, retryable=False)
        self.line_item_id = line_item_id
        self.url = url


def _is_postgresql() -> bool:
    return db.engine.dialect.name == "postgresql"


def lease_seconds() -> float:
    """How long a claimed message stays a worker's own without news from it (its heartbeat renews it every third):
    the longest a person's next score waits behind a worker that died while sending."""
    return float(current_app.config["OUTBOX_LEASE_SECONDS"])


class LeaseKeeper(threading.Thread):
    """The worker's heartbeat while a batch is out: renews the batch's leases every third of a lease.

    So the lease can be short whatever the LMS's timeouts: a live worker never loses a message to another one, and
    a dead worker's messages are free again one lease after its last heartbeat. It renews the batch's own claims
    only (a row this worker left behind in an earlier, failed round is not kept from the other workers), in a
    session of its own on its own connection, and never waits for a row another transaction holds (the batch's
    own session may be writing it): on PostgreSQL those rows are skipped (`SKIP LOCKED`) for this beat.
    """

    def __init__(self, app: Flask, worker_id: str, message_ids: list[int]):
        super().__init__(name="outbox-lease", daemon=True)
        self.app = app
        self.worker_id = worker_id
        self.message_ids = list(message_ids)
        self.interval = float(app.config["OUTBOX_LEASE_SECONDS"]) / 3
        self.finished = threading.Event()

    def run(self) -> None:
        while not self.finished.wait(self.interval):
            with self.app.app_context(), Session(db.engine) as session:
                try:
                    _renew_leases(self.message_ids, self.worker_id, session=session, skip_locked=True)
                except Exception:  # a database hiccup: the next beat tries again, the lease has room for two
                    self.app.logger.exception("outbox worker: renewing leases failed")

    def __enter__(self) -> LeaseKeeper:
        self.start()
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is not None:
            # The batch failed, perhaps holding row locks in the main session: release them before waiting for the
            # heartbeat (which never waits for them on PostgreSQL, but does for SQLite's one write lock).
            db.session.rollback()
        self.finished.set()
        self.join(timeout=HEARTBEAT_JOIN_SECONDS)
        if self.is_alive():
            self.app.logger.error("outbox worker: the lease heartbeat did not stop within %ss", HEARTBEAT_JOIN_SECONDS)


def _due_and_first_in_line(now):
    """Due (pending and its time has come, or leased by a worker whose lease ran out) and not waiting in line."""
    earlier = aliased(OutboxMessage)
    waiting = exists().where(
        earlier.resource_link_id == OutboxMessage.resource_link_id,
        earlier.user_id == OutboxMessage.user_id,
        earlier.id < OutboxMessage.id,
        earlier.status.in_(UNSENT_STATUSES),
    )
    due = or_(
        and_(OutboxMessage.status == OutboxStatus.PENDING.value, OutboxMessage.next_attempt_at <= now),
        and_(OutboxMessage.status == OutboxStatus.SENDING.value, OutboxMessage.leased_until < now),
    )
    return and_(due, ~waiting)


def claim(worker_id: str, limit: int) -> list[int]:
    """Lease up to `limit` due messages to this worker and commit; their ids in order."""
    now = utcnow()
    condition = _due_and_first_in_line(now)
    query = db.select(OutboxMessage.id).where(condition).order_by(OutboxMessage.id).limit(limit)
    if _is_postgresql():
        query = query.with_for_update(skip_locked=True, of=OutboxMessage)
    candidates = list(db.session.scalars(query))
    if not candidates:
        db.session.commit()
        return []
    lease_until = now + timedelta(seconds=lease_seconds())
    # Conditional: on SQLite another worker may have leased some since the SELECT; each row goes to one worker.
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(candidates), condition)
        .values(status=OutboxStatus.SENDING.value, leased_until=lease_until, leased_by=worker_id)
        .execution_options(synchronize_session=False)
    )
    claimed = list(db.session.scalars(
        db.select(OutboxMessage.id)
        .where(OutboxMessage.id.in_(candidates), OutboxMessage.leased_by == worker_id,
               OutboxMessage.leased_until == lease_until, OutboxMessage.status == OutboxStatus.SENDING.value)
        .order_by(OutboxMessage.id)
    ))
    db.session.commit()
    return claimed


def _finish(message_id: int, worker_id: str, *, commit: bool = True, **values) -> bool:
    """Record the outcome, only while the lease is still ours (else another worker owns the row now).

    `commit=False` when the caller commits a whole batch of outcomes at once (`run_once`).
    """
    result = db.session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == message_id,
            OutboxMessage.leased_by == worker_id,
            OutboxMessage.status == OutboxStatus.SENDING.value,
        )
        .values(leased_until=None, leased_by=None, **values)
        .execution_options(synchronize_session=False)
    )
    if commit:
        db.session.commit()
    return result.rowcount == 1


def _line_item_for(message: OutboxMessage, batch: Batch):
    """The message's line item; found or created in the LMS the first time (locked per resource link)."""
    if message.line_item is not None:
        return message.line_item
    known = batch.line_items.get(message.resource_link_id)
    if known is not None:  # found or created for an earlier message: recorded with this one's outcome
        return known
    query = db.select(ResourceLink).where(ResourceLink.id == message.resource_link_id)
    if _is_postgresql():
        query = query.with_for_update()  # one worker at a time creates a resource link's column
    resource_link = db.session.scalar(query)
    db.session.refresh(resource_link)
    line_item = ensure_line_item(resource_link)
    message.line_item_id = line_item.id
    db.session.commit()
    batch.line_items[resource_link.id] = line_item
    return line_item


@dataclass
class Outgoing:
    """A message made ready to send: everything the HTTP call needs, read from the database beforehand.

    `registration` is detached from the session (its columns loaded), so that a sending thread never touches the
    database.
    """

    message_id: int
    attempts: int
    previous_status_code: int | None
    registration: Registration
    line_item_id: int
    line_item_url: str
    score: dict


@dataclass
class Batch:
    """What the messages of one batch share, read once: their rows, line items and (detached) registrations."""

    messages: dict[int, OutboxMessage] = field(default_factory=dict)
    line_items: dict[int, LineItem] = field(default_factory=dict)  # by resource link id
    registrations: dict[int, Registration] = field(default_factory=dict)

    @classmethod
    def load(cls, message_ids: list[int]) -> Batch:
        messages = {m.id: m for m in db.session.scalars(
            db.select(OutboxMessage).where(OutboxMessage.id.in_(message_ids)))}
        links = {m.resource_link_id for m in messages.values()}
        line_items = {item.resource_link_id: item for item in db.session.scalars(
            db.select(LineItem).where(LineItem.resource_link_id.in_(links)))}
        return cls(messages=messages, line_items=line_items)

    def registration(self, registration_id: int) -> Registration:
        if registration_id not in self.registrations:
            registration = db.session.get(Registration, registration_id)
            db.session.refresh(registration)
            db.session.expunge(registration)
            self.registrations[registration_id] = registration
        return self.registrations[registration_id]


def _post(outgoing: Outgoing) -> None:
    """The one HTTP call (AGS 2.0 §3.4); a 404/410 means the LMS no longer has the line item."""
    try:
        ags.post_score(outgoing.registration, outgoing.line_item_url, outgoing.score)
    except ServiceError as error:
        if error.status in GONE_STATUSES:
            raise LineItemGone(error, outgoing.line_item_id, outgoing.line_item_url) from error
        raise


def _forget_line_item(line_item_id: int, url: str) -> None:
    """Drop a line item the LMS no longer has, so that the next attempt looks it up (or creates it) anew.

    Only while it still has the URL that failed: another worker may have replaced it already.
    """
    gone = db.session.scalar(db.select(LineItem.id).where(LineItem.id == line_item_id, LineItem.url == url))
    if gone is not None:
        db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.line_item_id == line_item_id)
            .values(line_item_id=None)
            .execution_options(synchronize_session=False)
        )
        db.session.execute(delete(LineItem).where(LineItem.id == line_item_id))
    db.session.commit()


def _newer_in_line(message: OutboxMessage, now) -> str | None:
    """SENT when a later message of the same key was sent already; SENDING when one is being sent right now."""
    later = db.session.execute(
        db.select(OutboxMessage.status, OutboxMessage.leased_until).where(
            OutboxMessage.resource_link_id == message.resource_link_id,
            OutboxMessage.user_id == message.user_id,
            OutboxMessage.id > message.id,
            OutboxMessage.status.in_((OutboxStatus.SENT.value, OutboxStatus.SENDING.value)),
        )
    ).all()
    if any(status == OutboxStatus.SENT.value for status, _ in later):
        return OutboxStatus.SENT.value
    if any(leased_until is not None and leased_until >= now for _, leased_until in later):
        return OutboxStatus.SENDING.value
    return None


def process(message_id: int, worker_id: str, *, renew: bool = True) -> str | None:
    """Send one leased message and record what happened; its new status (None when no longer ours).

    `renew=False` when the batch's lease is still fresh (see `run_once`): no extra write per message.
    """
    outgoing = prepare(message_id, worker_id, renew=renew, batch=Batch())
    if not isinstance(outgoing, Outgoing):
        return outgoing
    return record(outgoing, worker_id, send(outgoing))


def prepare(message_id: int, worker_id: str, *, renew: bool, batch: Batch) -> Outgoing | str | None:
    """Everything before the HTTP call: the lease, the order check, the line item (found or created).

    An `Outgoing` to send; else the message's new status (superseded, back in line, failed) or None.
    """
    if renew and message_id not in _renew_leases([message_id], worker_id):
        return None
    message = batch.messages.get(message_id) or db.session.get(OutboxMessage, message_id)
    if message is None or message.status != OutboxStatus.SENDING or message.leased_by != worker_id:
        return None
    registration = batch.registration(message.registration_id)
    if registration.progress_scores_refused_at is not None and is_progress_only(message.payload):
        # Queued before the platform's refusal was learned: not sent, not a failure.
        if _finish(message_id, worker_id, status=OutboxStatus.DECLINED.value, last_error=DECLINED_TEXT):
            return OutboxStatus.DECLINED.value
        return None
    now = utcnow()
    # Only after an admin's retry can a later message of this key have gone ahead (it was not held back by
    # this one while it had failed): never send an older score over a newer one. A message that never failed
    # was claimed first in line, so nothing later can have been sent before it.
    newer = _newer_in_line(message, now) if message.last_error is not None else None
    if newer == OutboxStatus.SENT.value:
        current_app.logger.info("outbox message %s superseded by a newer score already sent", message_id)
        if _finish(message_id, worker_id, status=OutboxStatus.SUPERSEDED.value):
            return OutboxStatus.SUPERSEDED.value
        return None
    if newer == OutboxStatus.SENDING.value:  # wait for it, then this one is superseded (or sent, if it failed)
        later = now + timedelta(seconds=backoff_seconds(1))
        if _finish(message_id, worker_id, status=OutboxStatus.PENDING.value, next_attempt_at=later):
            return OutboxStatus.PENDING.value
        return None
    attempts = message.attempts + 1
    try:
        if message.kind != OutboxKind.SCORE:
            raise ValueError(f"Unknown outbox message kind {message.kind!r}")
        line_item = _line_item_for(message, batch)
        score = dict(message.payload)  # its `timestamp` is the one taken when it was queued, on every attempt
        if "scoreGiven" in score and "scoreMaximum" not in score:
            score["scoreMaximum"] = line_item.score_maximum
        return Outgoing(message_id=message_id, attempts=attempts, previous_status_code=message.last_status_code,
                        registration=registration,
                        line_item_id=line_item.id, line_item_url=line_item.url, score=score)
    except Exception as error:  # the line item could not be found or created: recorded like a failed send
        db.session.rollback()
        return _record_outcome(message_id, worker_id, attempts, message.last_status_code, error)


def send(outgoing: Outgoing) -> Exception | None:
    """The HTTP call alone (safe in a thread with an app context: it reads no database); the error, if any."""
    try:
        _post(outgoing)
    except Exception as error:
        return error
    return None


def record(outgoing: Outgoing, worker_id: str, error: Exception | None, *, commit: bool = True) -> str | None:
    """Write down what the LMS answered (`commit=False`: the caller commits the batch's outcomes together)."""
    if error is not None:
        if _refuses_progress_scores(outgoing, error):
            return _decline_progress_scores(outgoing, worker_id, error, commit=commit)
        return _record_outcome(outgoing.message_id, worker_id, outgoing.attempts, outgoing.previous_status_code,
                               error, commit=commit)
    if _finish(outgoing.message_id, worker_id, commit=commit, status=OutboxStatus.SENT.value, sent_at=utcnow(),
               attempts=outgoing.attempts, last_status_code=None):
        return OutboxStatus.SENT.value
    return None


def _refuses_progress_scores(outgoing: Outgoing, error: Exception) -> bool:
    """The platform answered 400/422 to a score without scoreGiven AND its answer names scoreGiven or scoreMaximum
    (`scoreGiven`, `score_given`, `scoreMaximum`…): it takes final scores only (some LMSs require both).

    Any other 400/422 (Canvas: "User not found in course or is not a student", a learner who left) is about that one
    message: an ordinary failure, and the platform keeps receiving everyone else's progress-only scores.
    """
    return (
        isinstance(error, ServiceError)
        and not isinstance(error, LineItemGone)
        and error.status in PROGRESS_REFUSED_STATUSES
        and is_progress_only(outgoing.score)
        and SCORE_FIELDS_NAMED.search(error.body if error.body is not None else error.message) is not None
    )


def _decline_progress_scores(outgoing: Outgoing, worker_id: str, error: ServiceError, *,
                             commit: bool = True) -> str | None:
    """Learn it for the platform (its first answer kept), decline this message and its unsent progress-only ones."""
    registration_id = outgoing.registration.id
    current_app.logger.warning("registration %s refuses progress-only scores: %s", registration_id, error.message)
    db.session.execute(
        update(Registration)
        .where(Registration.id == registration_id, Registration.progress_scores_refused_at.is_(None))
        .values(progress_scores_refused_at=utcnow(), progress_scores_refusal=error.message[:MAX_ERROR_LENGTH])
        .execution_options(synchronize_session=False)
    )
    declined = _finish(outgoing.message_id, worker_id, commit=False, status=OutboxStatus.DECLINED.value,
                       attempts=outgoing.attempts, last_error=error.message[:MAX_ERROR_LENGTH],
                       last_status_code=error.status)
    decline_waiting_progress_scores(registration_id)
    if commit:
        db.session.commit()
    return OutboxStatus.DECLINED.value if declined else None


def _record_outcome(message_id, worker_id, attempts, previous_status_code, error: Exception, *,
                    commit: bool = True) -> str | None:
    if isinstance(error, LineItemGone):
        _forget_line_item(error.line_item_id, error.url)
        if previous_status_code in GONE_STATUSES:
            text = (
                f"The LMS answered HTTP {error.status} again, after the grade column was looked up or created "
                "anew: not trying again. Check in the LMS that this course and its grade column for the "
                f"activity still exist, then retry. The LMS said: {error.message}"
            )
            return _record_failure(message_id, worker_id, attempts, text, error.status, False, None, commit=commit)
        text = (
            f"The LMS no longer has the grade column {error.url} (HTTP {error.status}); it is looked up or "
            f"created again on the next attempt. The LMS said: {error.message}"
        )
        return _record_failure(message_id, worker_id, attempts, text, error.status, True, None, commit=commit)
    if isinstance(error, ServiceError):
        return _record_failure(
            message_id, worker_id, attempts, error.message, error.status, error.retryable, error.retry_after,
            commit=commit,
        )
    if isinstance(error, (DomainError, ValueError)):
        text = getattr(error, "message", None) or str(error)
        return _record_failure(message_id, worker_id, attempts, text, None, False, None, commit=commit)
    # A bug or a database hiccup: log it and try again later; the attempt limit ends it.
    current_app.logger.error("outbox message %s: unexpected error", message_id, exc_info=error)
    return _record_failure(message_id, worker_id, attempts, f"Unexpected error: {error!r}", None, True, None,
                           commit=commit)


def _record_failure(message_id, worker_id, attempts, text, status_code, retryable, retry_after, *,
                    commit: bool = True) -> str | None:
    text = (text or "")[:MAX_ERROR_LENGTH]
    if status_code in REFUSED_STATUSES:
        retryable, text = _refusal_outcome(message_id, status_code, text)
    elif retryable:
        retryable = attempts < current_app.config["OUTBOX_MAX_ATTEMPTS"]
    values = {"attempts": attempts, "last_error": text, "last_status_code": status_code}
    if retryable:
        delay = backoff_seconds(attempts, retry_after)
        values.update(status=OutboxStatus.PENDING.value, next_attempt_at=utcnow() + timedelta(seconds=delay))
        current_app.logger.warning("outbox message %s: retry in %.2fs after: %s", message_id, delay, text)
    else:
        values.update(status=OutboxStatus.FAILED.value)
        current_app.logger.error("outbox message %s failed: %s", message_id, text)
    if _finish(message_id, worker_id, commit=commit, **values):
        return values["status"]
    return None


def _refusal_outcome(message_id: int, status_code: int, text: str) -> tuple[bool, str]:
    """(retry?, what admins read) after the platform refused the tool: retried until the deadline, however many
    attempts that takes (the platform's admin may need days to fix a key or switch the registration on again)."""
    message = db.session.get(OutboxMessage, message_id)
    if message is not None and utcnow() < refusal_deadline(message):
        return True, text
    days = float(current_app.config["OUTBOX_REFUSED_RETRY_SECONDS"]) / 86400
    return False, (
        f"The LMS kept refusing the tool (HTTP {status_code}) for {days:g} day(s) of retries: not "
        "trying again. Check the tool's registration in the LMS (its key set URL, client id, whether it is "
        f"switched on), then retry. The LMS said: {text}"
    )[:MAX_ERROR_LENGTH]


def run_once(app: Flask, *, worker_id: str | None = None, limit: int | None = None) -> int:
    """Claim one batch of due messages and send them; how many were claimed (0: nothing is due).

    The database work (lease, order, line item; then the outcomes) runs in this thread. Only the HTTP calls go
    out side by side, OUTBOX_SEND_THREADS at a time: a batch never holds two messages of one ordering key
    (claiming takes only the first unsent of each), so each person's scores still arrive in order.
    """
    worker_id = worker_id or uuid.uuid4().hex
    with app.app_context():
        try:
            claimed = claim(worker_id, limit or app.config["OUTBOX_BATCH_SIZE"])
            if not claimed:
                return 0
            try:
                with LeaseKeeper(app, worker_id, claimed):  # the leases stay ours while the LMS takes its time
                    batch = Batch.load(claimed)
                    ready = []
                    for message_id in claimed:
                        outgoing = prepare(message_id, worker_id, renew=False, batch=batch)
                        if isinstance(outgoing, Outgoing):
                            ready.append(outgoing)
                    db.session.commit()
                    outcomes = _send_all(app, ready, worker_id)
                    for outgoing, error in outcomes:
                        record(outgoing, worker_id, error, commit=False)
                    db.session.commit()  # the batch's outcomes together: one write transaction
            except Exception:
                try:
                    _release(claimed, worker_id)  # the round's unrecorded claims: free for the next round at once
                except Exception:
                    app.logger.exception("outbox worker: releasing a failed round's claims failed")
                raise
            return len(claimed)
        finally:
            db.session.remove()


def _send_all(app: Flask, ready: list[Outgoing], worker_id: str) -> list[tuple[Outgoing, Exception | None]]:
    """Send in rounds of OUTBOX_SEND_THREADS × 4 messages; each round goes only with the messages still ours
    (the heartbeat keeps them so; a message another worker took meanwhile is left to it)."""
    threads = max(1, min(int(app.config["OUTBOX_SEND_THREADS"]), len(ready)))
    per_round = threads * SENDS_PER_THREAD_PER_LEASE
    outcomes = []

    def send_in_context(outgoing: Outgoing) -> Exception | None:
        with app.app_context():
            return send(outgoing)

    with ThreadPoolExecutor(threads, thread_name_prefix="outbox-send") as pool:
        for start in range(0, len(ready), per_round):
            round_ = ready[start:start + per_round]
            ours = _renew_leases([o.message_id for o in round_], worker_id)
            round_ = [o for o in round_ if o.message_id in ours]
            sender = pool.map if threads > 1 else map
            outcomes.extend(zip(round_, sender(send_in_context if threads > 1 else send, round_), strict=True))
    return outcomes


def _renew_leases(message_ids: list[int], worker_id: str, *, session=None, skip_locked: bool = False) -> set[int]:
    """A fresh lease for these messages, if still ours; the ids that are (one UPDATE, one SELECT, one commit).

    The one way a lease is renewed: before each round of sends (`_send_all`, `process`) and by the heartbeat
    (`LeaseKeeper`, its own `session`, `skip_locked`: a row another transaction is writing is left for this beat).
    """
    session = session or db.session
    until = utcnow() + timedelta(seconds=lease_seconds())
    mine = (OutboxMessage.id.in_(message_ids), OutboxMessage.leased_by == worker_id,
            OutboxMessage.status == OutboxStatus.SENDING.value)
    target = mine
    if skip_locked and session.get_bind().dialect.name == "postgresql":
        row = aliased(OutboxMessage)
        free = (db.select(row.id)
                .where(row.id.in_(message_ids), row.leased_by == worker_id, row.status == OutboxStatus.SENDING.value)
                .with_for_update(skip_locked=True))
        target = (OutboxMessage.id.in_(free),)
    session.execute(update(OutboxMessage).where(*target).values(leased_until=until)
                    .execution_options(synchronize_session=False))
    ours = set(session.scalars(db.select(OutboxMessage.id).where(*mine, OutboxMessage.leased_until == until)))
    session.commit()
    return ours


def _release(message_ids: list[int], worker_id: str) -> None:
    """A failed round's claims go back in line at once (pending, lease cleared), not one lease later."""
    db.session.rollback()
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(message_ids), OutboxMessage.leased_by == worker_id,
               OutboxMessage.status == OutboxStatus.SENDING.value)
        .values(status=OutboxStatus.PENDING.value, leased_until=None, leased_by=None)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


CACHE_SWEEP_INTERVAL = 3600.0  # seconds between sweeps of expired login states and used nonces (filesystem cache)


def _sweep_expired_cache(app: Flask) -> None:
    """The filesystem cache keeps no item count (see create_app), so expired login states and used nonces
    (lti.launch, core.single_use) are swept here; Redis expires its keys by itself."""
    from cachelib import FileSystemCache

    from lti_tool.extensions import cache

    with app.app_context():
        backend = cache.cache
        if isinstance(backend, FileSystemCache):
            backend._remove_expired(time.time())  # cachelib's own sweep; Redis expires keys by itself


def run_forever(app: Flask, stop: threading.Event | None = None) -> None:
    """Send the outbox until `stop` is set; waits OUTBOX_POLL_SECONDS whenever nothing is due.

    Scores go first: mail (rendering a record of completion costs milliseconds of CPU each) is sent in the rounds
    where no score was due, so a bulk release reaches the gradebook at full speed and its emails follow.
    """
    stop = stop or threading.Event()
    worker_id = uuid.uuid4().hex
    next_prune = 0.0
    while not stop.is_set():
        if time.monotonic() >= next_prune:
            _sweep_expired_cache(app)
            next_prune = time.monotonic() + CACHE_SWEEP_INTERVAL
        try:
            sent = run_once(app, worker_id=worker_id)
        except Exception:
            app.logger.exception("outbox worker: a round failed; trying again")
            sent = 0
        if not sent:
            try:
                sent = mail_outbox.run_once(app, worker_id=worker_id)
            except Exception:
                app.logger.exception("outbox worker: a mail round failed; trying again")
        if not sent:
            stop.wait(app.config["OUTBOX_POLL_SECONDS"])


class WorkerThread(threading.Thread):
    """The outbox worker inside the web process (`make run`): a daemon thread with a stop event."""

    def __init__(self, app: Flask):
        super().__init__(name="outbox-worker", daemon=True)
        self.app = app
        self.stop_event = threading.Event()

    def run(self) -> None:
        run_forever(self.app, self.stop_event)

    def stop(self, timeout: float | None = None) -> None:
        self.stop_event.set()
        self.join(timeout)


def start_thread(app: Flask) -> WorkerThread:
    """Start the worker as a thread of this process (development)."""
    thread = WorkerThread(app)
    app.extensions["outbox_worker"] = thread
    thread.start()
    return thread


def start_thread_with_first_request(app: Flask) -> None:
    """Start the worker thread when the app serves its first request, so that CLI commands never run it."""
    lock = threading.Lock()

    @app.before_request
    def _start_outbox_worker():
        if app.extensions.get("outbox_worker") is None:
            with lock:
                if app.extensions.get("outbox_worker") is None:
                    start_thread(app)
