"""Gradebook services: queue scores in the outbox, find or create line items. They flush, never commit."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import and_, func, update
from sqlalchemy.orm import aliased, selectinload

from lti_tool.catalog.services import get_microcredential
from lti_tool.core.db import get_or_create
from lti_tool.core.errors import Conflict, InvalidInput
from lti_tool.core.models import utcnow
from lti_tool.core.urls import external_url
from lti_tool.extensions import db
from lti_tool.gradebook.models import DECLINED_TEXT, OutboxKind, OutboxMessage, OutboxStatus, is_progress_only
from lti_tool.lti import ags
from lti_tool.lti.deep_linking import submission_review_for
from lti_tool.lti.models import LineItem, LtiUser, Registration, ResourceLink, ResourceLinkLaunch

LINE_ITEM_TAG = ags.LINE_ITEM_TAG
DEFAULT_SCORE_MAXIMUM = ags.SCORE_MAXIMUM


def enqueue_score(
    resource_link: ResourceLink,
    user: LtiUser,
    activity_progress: str,
    grading_progress: str,
    score_given: float | None = None,
    comment: str | None = None,
    *,
    score_maximum: float | None = None,
) -> list[OutboxMessage]:
    """Queue a score for every placement of the person's work, in the caller's transaction (AGS 2.0 §3.4).

    The same micro-credential placed twice in a course shares one enrollment: the score goes to the line item of
    each placement the person launched from (`placements_for`), one message per resource link, so that each
    keeps its own order (resource link, user) and its own line item (found or created by the worker). A score
    with `score_maximum` is stated against each column's own maximum when the tool knows it; without one, the
    line item's maximum is used at send time. The timestamp is taken now, once, so the LMS orders scores by when
    they arose. A progress-only score (no `score_given`) for a platform that refuses those is not queued: [].
    """
    registration = resource_link.context.deployment.registration
    if registration.issuer != user.issuer:  # a person is one per issuer, whichever registration they came through
        raise InvalidInput("This person and this activity belong to different platforms.")
    if score_given is None and registration.progress_scores_refused_at is not None:
        return []  # learned from the platform (see the worker): only final scores go there
    line_item = resource_link.line_item
    if score_given is not None and score_maximum is None and line_item is not None:
        score_maximum = line_item.score_maximum
    timestamp = utcnow()
    messages = []
    for placement in placements_for(resource_link, user):
        given, maximum = _against_column(placement.line_item, score_given, score_maximum)
        try:
            payload = ags.build_score(
                user.sub,
                activity_progress,
                grading_progress,
                score_given=given,
                score_maximum=maximum,
                comment=comment,
                timestamp=timestamp,
            )
        except ValueError as error:
            raise InvalidInput(f"This score cannot be sent to the LMS: {error}") from None
        message = _queue_score(registration.id, placement, user, payload)
        messages.append(message)
    return messages


def placements_for(resource_link: ResourceLink, user: LtiUser) -> list[ResourceLink]:
    """Where a person's scores for this resource link go: the link itself, then every other resource link of its
    course bound to the same micro-credential that the person launched from (`ResourceLinkLaunch`), oldest first.

    A link of another course, of another micro-credential, or one the person never opened gets nothing: its
    column is not where the instructor of that placement looks for this person's work.
    """
    if not resource_link.microcredential_slug:
        return [resource_link]
    others = db.session.scalars(
        db.select(ResourceLink)
        .join(ResourceLinkLaunch, and_(ResourceLinkLaunch.resource_link_id == ResourceLink.id,
                                       ResourceLinkLaunch.user_id == user.id))
        .where(ResourceLink.context_id == resource_link.context_id,
               ResourceLink.microcredential_slug == resource_link.microcredential_slug,
               ResourceLink.id != resource_link.id)
        .options(selectinload(ResourceLink.line_item))
        .order_by(ResourceLink.id)
    ).all()
    return [resource_link, *others]


def catch_up_new_placement(resource_link: ResourceLink, user: LtiUser) -> OutboxMessage | None:
    """A person opens another placement of a micro-credential they already have scores for (the same one placed
    twice in a course): its column gets their latest score at once, not only at their next change.

    The copy keeps the score's timestamp (when it arose), restated against the new column's maximum when known.
    Registered as the `lti.hooks.on_first_launch_from` listener; flushes, never commits.
    """
    if not resource_link.microcredential_slug:
        return None
    latest = db.session.scalar(
        db.select(OutboxMessage)
        .join(ResourceLink, ResourceLink.id == OutboxMessage.resource_link_id)
        .where(OutboxMessage.user_id == user.id,
               OutboxMessage.resource_link_id != resource_link.id,
               ResourceLink.context_id == resource_link.context_id,
               ResourceLink.microcredential_slug == resource_link.microcredential_slug,
               OutboxMessage.status.not_in((OutboxStatus.DECLINED.value, OutboxStatus.SUPERSEDED.value)))
        .order_by(OutboxMessage.id.desc())
        .limit(1)
    )
    if latest is None:
        return None
    given, maximum = _against_column(resource_link.line_item, latest.payload.get("scoreGiven"),
                                     latest.payload.get("scoreMaximum"))
    payload = dict(latest.payload)
    if given is not None and maximum is not None:  # without one, the column's own maximum is added at send time
        payload.update(scoreGiven=given, scoreMaximum=maximum)
    message = _queue_score(latest.registration_id, resource_link, user, payload)
    db.session.flush()
    return message


def _queue_score(registration_id: int, resource_link: ResourceLink, user: LtiUser, payload: dict) -> OutboxMessage:
    """A score for one resource link's line item, due now, added to the caller's transaction (written with the
    change that causes it). `registration_id`: the registration whose token reaches that line item."""
    message = OutboxMessage(
        kind=OutboxKind.SCORE.value,
        registration_id=registration_id,
        resource_link_id=resource_link.id,
        line_item_id=resource_link.line_item.id if resource_link.line_item else None,
        user_id=user.id,
        payload=payload,
        status=OutboxStatus.PENDING.value,
        attempts=0,
        next_attempt_at=utcnow(),
    )
    db.session.add(message)
    return message


def _against_column(line_item: LineItem | None, score_given: float | None,
                    score_maximum: float | None) -> tuple[float | None, float | None]:
    """The score restated against the column's own maximum, when the tool knows the column (the same share)."""
    if score_given is None or score_maximum is None or line_item is None or line_item.score_maximum == score_maximum:
        return score_given, score_maximum
    target = line_item.score_maximum
    return min(round(score_given / score_maximum * target, 4), target), target


def ensure_line_item(
    resource_link: ResourceLink, *, label: str | None = None, score_maximum: float | None = None
) -> LineItem:
    """The resource link's line item: known, else found in the LMS by resource_link_id, else created there.

    Created with label = the micro-credential title, resourceId = its slug, tag = `microcredential`
    (AGS 2.0 §3.2.7). Calls the LMS (raises `ags.ServiceError`); flushes, never commits.
    """
    if resource_link.line_item is not None:
        return resource_link.line_item
    context = resource_link.context
    if not context.lineitems_url:
        raise Conflict(
            "This course does not let the tool create grade columns.",
            hint="Ask the LMS administrator to enable grade services (AGS) for this tool.",
        )
    registration = context.deployment.registration
    found = ags.find_line_items(registration, context.lineitems_url, resource_link_id=resource_link.resource_link_id)
    # Prefer our own column when the platform has several for the link (ours carries our tag).
    found.sort(key=lambda item: item.get("tag") != LINE_ITEM_TAG)
    data = found[0] if found else None
    if data is None:
        data = ags.create_line_item(
            registration,
            context.lineitems_url,
            {
                "label": label or _microcredential_title(resource_link) or resource_link.title or "Micro-credential",
                "scoreMaximum": score_maximum or DEFAULT_SCORE_MAXIMUM,
                "resourceId": resource_link.microcredential_slug or resource_link.resource_link_id,
                "tag": LINE_ITEM_TAG,
                "resourceLinkId": resource_link.resource_link_id,
                **_submission_review(),
            },
        )
    return record_line_item(resource_link, data)


def _submission_review() -> dict:
    """`submissionReview` for a line item the tool creates (Submission Review 1.0 §3.1): the gradebook launches
    back to the tool's launch URL. Left out only when that URL cannot be known (no request and no BASE_URL)."""
    try:
        return {"submissionReview": submission_review_for(external_url("lti.launch"))}
    except RuntimeError:  # the worker, without BASE_URL or SERVER_NAME: no absolute URL to give
        current_app.logger.warning("set BASE_URL: line items are created without submissionReview")
        return {}


def _microcredential_title(resource_link: ResourceLink) -> str | None:
    microcredential = get_microcredential(resource_link.microcredential_slug, include_retired=True)
    return microcredential.title if microcredential else None


def record_line_item(resource_link: ResourceLink, data: dict) -> LineItem:
    """Store (or update) the line item the LMS gave for a resource link (a launch claim, deep linking, AGS)."""
    line_item, _ = get_or_create(
        LineItem,
        {"resource_link_id": resource_link.id},
        {"url": data["id"], "label": data.get("label") or "Micro-credential"},
    )
    line_item.url = data["id"]
    line_item.label = data.get("label") or line_item.label
    if data.get("scoreMaximum"):
        line_item.score_maximum = float(data["scoreMaximum"])
    line_item.resource_id = data.get("resourceId", line_item.resource_id)
    line_item.tag = data.get("tag", line_item.tag)
    db.session.flush()
    return line_item


def newer_sent_message(message: OutboxMessage) -> OutboxMessage | None:
    """The latest message of the same ordering key (resource link, user) sent after this one, if any."""
    return db.session.scalar(
        db.select(OutboxMessage)
        .where(
            OutboxMessage.resource_link_id == message.resource_link_id,
            OutboxMessage.user_id == message.user_id,
            OutboxMessage.id > message.id,
            OutboxMessage.status == OutboxStatus.SENT.value,
        )
        .order_by(OutboxMessage.id.desc())
        .limit(1)
    )


def newer_sent_by_message(messages: list[OutboxMessage]) -> dict[int, tuple[int, OutboxMessage]]:
    """For each message: how many later messages of its ordering key were sent, and the latest of them."""
    if not messages:
        return {}
    later = aliased(OutboxMessage)
    rows = db.session.execute(
        db.select(OutboxMessage.id, func.count(later.id), func.max(later.id))
        .join(
            later,
            and_(
                later.resource_link_id == OutboxMessage.resource_link_id,
                later.user_id == OutboxMessage.user_id,
                later.id > OutboxMessage.id,
                later.status == OutboxStatus.SENT.value,
            ),
        )
        .where(OutboxMessage.id.in_([m.id for m in messages]))
        .group_by(OutboxMessage.id)
    ).all()
    latest = {
        m.id: m for m in db.session.scalars(db.select(OutboxMessage).where(OutboxMessage.id.in_([r[2] for r in rows])))
    }
    return {message_id: (count, latest[latest_id]) for message_id, count, latest_id in rows}


def retry_message(message: OutboxMessage) -> OutboxMessage:
    """An admin sends a failed message again: back to the queue with a fresh count of attempts.

    Unless a later score of the same person and activity was already sent: the LMS keeps the last score it
    receives, so sending this older one now would put it back in the past. It becomes `superseded` instead
    (the worker checks this again just before sending, see `worker.process`).
    """
    if not message.can_retry:
        raise Conflict("Only a failed message can be sent again.")
    message.leased_until = None
    message.leased_by = None
    if newer_sent_message(message) is not None:
        message.status = OutboxStatus.SUPERSEDED.value
        db.session.flush()
        return message
    message.status = OutboxStatus.PENDING.value
    message.attempts = 0
    message.last_status_code = None  # a fresh start: a missing line item is looked up again once (see worker)
    message.next_attempt_at = utcnow()
    db.session.flush()
    return message


def backoff_seconds(attempts: int, retry_after: float | None = None) -> float:
    """The wait before a message's next attempt: base * 2^(attempts-1), capped; never sooner than the LMS's
    Retry-After (within the cap)."""
    config = current_app.config
    cap = float(config["OUTBOX_BACKOFF_MAX_SECONDS"])
    delay = float(config["OUTBOX_BACKOFF_BASE_SECONDS"]) * 2 ** max(attempts - 1, 0)
    if retry_after:
        delay = max(delay, float(retry_after))
    return min(delay, cap)


def refusal_deadline(message: OutboxMessage):
    """Until when a platform's 401/403 is retried for this message (then it fails and waits for an admin):
    OUTBOX_REFUSED_RETRY_SECONDS after its first attempt since it was queued or an admin last retried it.

    No column holds that moment; it is worked out from the message's schedule: an admin's retry (like queueing)
    sets `attempts` to 0 and `next_attempt_at` to now, and each attempt since moved `next_attempt_at` on by its
    backoff. So a retry restarts the window, and the time a message waited in line behind another one or for a
    stopped worker is not counted (a Retry-After longer than the backoff lengthens the window by the difference).
    """
    waited = sum(backoff_seconds(attempt) for attempt in range(1, message.attempts + 1))
    started = message.next_attempt_at - timedelta(seconds=waited)
    return started + timedelta(seconds=float(current_app.config["OUTBOX_REFUSED_RETRY_SECONDS"]))


def decline_waiting_progress_scores(registration_id: int) -> int:
    """Every waiting progress-only score of a platform that refuses them becomes `declined`; how many.

    Not failures and never retried: the platform said it takes final scores only, and those still go. One
    conditional UPDATE: a message a worker claimed meanwhile (no longer pending) is left to that worker.
    """
    waiting = db.session.execute(
        db.select(OutboxMessage.id, OutboxMessage.payload).where(
            OutboxMessage.registration_id == registration_id,
            OutboxMessage.status == OutboxStatus.PENDING.value,
        )
    ).all()
    ids = [message_id for message_id, payload in waiting if is_progress_only(payload)]
    if not ids:
        return 0
    result = db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(ids), OutboxMessage.status == OutboxStatus.PENDING.value)
        .values(status=OutboxStatus.DECLINED.value, last_error=DECLINED_TEXT)
        .execution_options(synchronize_session="fetch")
    )
    return result.rowcount


def resume_progress_scores(registration: Registration) -> Registration:
    """An admin says the platform takes progress-only scores again: the next ones are queued and sent.

    The scores declined meanwhile stay declined (out of date by then; the person's next change sends a fresh one).
    """
    registration.progress_scores_refused_at = None
    registration.progress_scores_refusal = None
    db.session.flush()
    return registration


def outbox_counts(registration_id: int | None = None) -> dict[str, int]:
    """How many messages are in each status (for one platform, or all)."""
    query = db.select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    if registration_id is not None:
        query = query.where(OutboxMessage.registration_id == registration_id)
    counts = {status.value: 0 for status in OutboxStatus}
    counts.update(dict(db.session.execute(query).all()))
    return counts
