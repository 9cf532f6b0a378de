"""Gradebook services: queue scores in the outbox, find or create line items. They flush, never commit."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import and_, func
from sqlalchemy.orm import aliased

from lti_tool.catalog.services import get_microcredential
from lti_tool.core.db import get_or_create
from lti_tool.core.errors import Conflict, InvalidInput
from lti_tool.core.models import utcnow
from lti_tool.core.urls import external_url
from lti_tool.extensions import db
from lti_tool.gradebook.models import OutboxKind, OutboxMessage, OutboxStatus
from lti_tool.lti import ags
from lti_tool.lti.deep_linking import submission_review_for
from lti_tool.lti.models import LineItem, LtiUser, ResourceLink

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
) -> OutboxMessage:
    """Queue a score for the resource link's line item, in the caller's transaction (AGS 2.0 §3.4).

    The timestamp is taken now, when the change happens, so the LMS orders scores by when they arose.
    When `score_given` comes without `score_maximum`, the line item's maximum is used at send time.
    """
    registration = resource_link.context.deployment.registration
    if registration.issuer != user.issuer:  # a person is one per issuer, whichever registration they came through
        raise InvalidInput("This person and this activity belong to different platforms.")
    line_item = resource_link.line_item
    if score_given is not None and score_maximum is None and line_item is not None:
        score_maximum = line_item.score_maximum
    try:
        payload = ags.build_score(
            user.sub,
            activity_progress,
            grading_progress,
            score_given=score_given,
            score_maximum=score_maximum,
            comment=comment,
        )
    except ValueError as error:
        raise InvalidInput(f"This score cannot be sent to the LMS: {error}") from None
    message = OutboxMessage(
        kind=OutboxKind.SCORE.value,
        registration_id=registration.id,  # the registration whose token reaches this line item
        resource_link_id=resource_link.id,
        line_item_id=line_item.id if line_item else None,
        user_id=user.id,
        payload=payload,
        status=OutboxStatus.PENDING.value,
        attempts=0,
        next_attempt_at=utcnow(),
    )
    db.session.add(message)  # written with the change that causes it, at its flush or commit
    return message


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


def outbox_counts(registration_id: int | None = None) -> dict[str, int]:
    """How many messages are in each status (for one platform, or all)."""
    query = db.select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    if registration_id is not None:
        query = query.where(OutboxMessage.registration_id == registration_id)
    counts = {status.value: 0 for status in OutboxStatus}
    counts.update(dict(db.session.execute(query).all()))
    return counts
