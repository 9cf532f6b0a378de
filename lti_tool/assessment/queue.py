"""The assessor queue: what one person may assess, oldest first, filtered and paged in a few queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, func
from sqlalchemy.orm import joinedload, selectinload

from lti_tool.assessment.allocation import AssessorScope
from lti_tool.assessment.models import Assessment, Scoring, Slot
from lti_tool.assessment.services import MARKING_LABELS, disagreement, slot_for
from lti_tool.catalog.models import MicroCredential
from lti_tool.core.models import utcnow
from lti_tool.extensions import db
from lti_tool.submissions.models import Attempt, MarkingStatus

STATES = {
    "open": "Not released yet",
    **{status.value: label for status, label in MARKING_LABELS.items()},
    "all": "All",
}


@dataclass(frozen=True)
class QueueFilter:
    microcredential_id: int | None = None
    state: str = "open"
    overdue_only: bool = False
    page: int = 1


@dataclass
class QueueRow:
    assessment: Assessment
    status: str
    needs: str
    can_open: bool
    can_release: bool
    is_overdue: bool

    @property
    def status_label(self) -> str:
        return MARKING_LABELS.get(self.status, self.status)


@dataclass
class QueuePage:
    rows: list[QueueRow]
    total: int
    overdue: int
    page: int
    pages: int


def _filtered(scope: AssessorScope, queue_filter: QueueFilter, now: datetime):
    """The filtered queue. "Not released yet" is read from the assessment (released with its attempt in one
    transaction), so the default view needs no join; a single marking state joins the attempts."""
    query = db.select(Assessment).where(scope.condition())
    if queue_filter.microcredential_id:
        query = query.where(Assessment.microcredential_id == queue_filter.microcredential_id)
    if queue_filter.state == "open":
        query = query.where(Assessment.released_at.is_(None))
    elif queue_filter.state == MarkingStatus.RELEASED:
        query = query.where(Assessment.released_at.is_not(None))
    elif queue_filter.state in {s.value for s in MarkingStatus}:
        query = query.join(Attempt, Attempt.id == Assessment.attempt_id).where(
            Attempt.marking_status == queue_filter.state)
    if queue_filter.overdue_only:
        query = query.where(Assessment.released_at.is_(None), Assessment.due_at < now)
    return query


def queue_page(scope: AssessorScope, queue_filter: QueueFilter, *, page_size: int, now: datetime | None = None,
               can_score: bool = True) -> QueuePage:
    """One page of the queue (oldest submission first), its total, and the overdue count of the whole queue."""
    now = now or utcnow()
    query = _filtered(scope, queue_filter, now)
    total = db.session.scalar(db.select(func.count()).select_from(query.order_by(None).subquery()))
    overdue = db.session.scalar(
        db.select(func.count(Assessment.id)).where(scope.condition(), Assessment.released_at.is_(None),
                                                   Assessment.due_at < now))
    pages = max(1, -(-total // page_size))
    page = min(max(queue_filter.page, 1), pages)
    assessments = db.session.scalars(
        query.options(joinedload(Assessment.attempt).load_only(Attempt.marking_status, Attempt.number),
                      joinedload(Assessment.microcredential).load_only(MicroCredential.title),
                      selectinload(Assessment.scorings).load_only(
                          Scoring.slot, Scoring.assessor_id, Scoring.status, Scoring.decision,
                          Scoring.claim_expires_at))
        .order_by(Assessment.submitted_at, Assessment.id)
        .offset((page - 1) * page_size).limit(page_size)
    ).unique().all()
    rows = [_row(a, scope.user_id, now, can_score) for a in assessments]
    return QueuePage(rows=rows, total=total, overdue=overdue, page=page, pages=pages)


def _row(assessment: Assessment, user_id: int, now: datetime, can_score: bool) -> QueueRow:
    status = assessment.attempt.marking_status
    needs, can_open = _needs(assessment, status, user_id, now, can_score)
    return QueueRow(assessment=assessment, status=status, needs=needs, can_open=can_open,
                    can_release=status == MarkingStatus.READY_FOR_RELEASE, is_overdue=assessment.is_overdue(now))


def _needs(assessment: Assessment, status: str, user_id: int, now: datetime, can_score: bool) -> tuple[str, bool]:
    """What the submission needs next, as this person sees it, and whether they can open it for that."""
    if status == MarkingStatus.RELEASED:
        return f"Released: {assessment.decision_label}", True
    if status == MarkingStatus.READY_FOR_RELEASE:
        return f"Decided: {assessment.decision_label}; ready for release", True
    if status in (MarkingStatus.READY_FOR_REVIEW, MarkingStatus.IN_REVIEW):
        if user_id in assessment.scorer_ids():
            return "Waiting for a review by another assessor", True
        if status == MarkingStatus.IN_REVIEW and assessment.reviewer_id != user_id:
            return "Being reviewed", True
        return "Needs a review", True
    mine = next((s for s in assessment.scorings if s.assessor_id == user_id), None)
    if mine is not None:
        if mine.is_complete:
            return "Scored by you; waiting for another assessor", True
        return "Yours: scoring in progress", True
    if not can_score:
        return ("Waiting for an assessor" if status == MarkingStatus.NOT_MARKED else "Being marked"), True
    preferred = assessment.preferred_assessor_id
    if preferred not in (None, user_id) and preferred not in assessment.scorer_ids():
        if not assessment.scorings:
            return "Returned to the assessor of the previous attempt", False
        return "Set aside for the assessor an admin chose", False
    slot = slot_for(assessment, user_id, now)
    if slot is None:
        return "Being scored by another assessor", False
    if slot == Slot.THIRD or disagreement(assessment):
        return "Needs a third assessor: the two decisions differ", True
    if slot == Slot.SECOND:
        return "Needs a second, independent assessor", True
    return "Needs an assessor", True


def microcredentials_in(scope: AssessorScope) -> list[MicroCredential]:
    """The micro-credentials that appear in this person's queue (for the filter)."""
    in_queue = exists().where(Assessment.microcredential_id == MicroCredential.id, scope.condition())
    return list(db.session.scalars(db.select(MicroCredential).where(in_queue).order_by(MicroCredential.title)))
