"""Assessment models: one assessment per submitted attempt, the assessors' scorings, grants and the audit log.

The marking state itself lives on `Attempt.marking_status` (Moodle's marking workflow); only
`assessment.services` changes it, always together with the rows here.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.core.models import TimestampMixin, UTCTimestamp, utcnow
from lti_tool.extensions import db

__all__ = ["Assessment", "AssessmentEvent", "AssessorGrant", "Decision", "Scoring", "ScoringStatus", "Slot"]


class Decision(StrEnum):
    """Computed from the rubric, never typed: earned when every criterion reaches the required level."""

    EARNED = "earned"
    NOT_YET = "notyet"


DECISION_LABELS = {Decision.EARNED: "Earned", Decision.NOT_YET: "Not yet"}


class Slot(StrEnum):
    """Who scores: one assessor (`first`); double-blind adds an independent `second`, and a `third` reconciles."""

    FIRST = "first"
    SECOND = "second"
    THIRD = "third"


class ScoringStatus(StrEnum):
    IN_PROGRESS = "inprogress"
    COMPLETE = "complete"


class Assessment(TimestampMixin, db.Model):
    """The assessment of one submitted attempt: its pseudonym, due date, settings and, once decided, its outcome.

    Course, micro-credential, platform and educator are copied from the attempt's enrollment so that the
    assessor queue is one indexed query over this table (10,000s of rows); the educator's id is used only to
    keep people from assessing themselves and is never shown.
    """

    __tablename__ = "assessment_assessment"
    __table_args__ = (
        CheckConstraint("decision IS NULL OR decision IN ('earned', 'notyet')", name="decision_known"),
        CheckConstraint("released_at IS NULL OR decision IS NOT NULL", name="released_has_decision"),
        CheckConstraint("score_given IS NULL OR (score_given >= 0 AND score_given <= score_maximum)",
                        name="score_in_range"),
        UniqueConstraint("pseudonym", "attempt_number"),
        # The queue: one platform's unreleased work, oldest first, with every column its filters read (covering).
        Index("ix_assessment_assessment_queue", "registration_id", "released_at", "submitted_at",
              "microcredential_id", "context_id", "educator_id", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("submission_attempt.id", ondelete="CASCADE"), unique=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("lti_registration.id", ondelete="CASCADE"))
    context_id: Mapped[int] = mapped_column(ForeignKey("lti_context.id", ondelete="CASCADE"), index=True)
    microcredential_id: Mapped[int] = mapped_column(ForeignKey("catalog_microcredential.id"), index=True)
    educator_id: Mapped[int] = mapped_column(ForeignKey("lti_user.id", ondelete="CASCADE"), index=True)
    pseudonym: Mapped[str] = mapped_column(String(12))
    attempt_number: Mapped[int] = mapped_column(default=1)
    submitted_at: Mapped[datetime] = mapped_column(UTCTimestamp())
    due_at: Mapped[datetime] = mapped_column(UTCTimestamp(), index=True)
    is_double_blind: Mapped[bool] = mapped_column(default=False)  # the settings as they were at submission
    needs_review: Mapped[bool] = mapped_column(default=False)
    preferred_assessor_id: Mapped[int | None] = mapped_column(ForeignKey("lti_user.id", ondelete="SET NULL"))
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("lti_user.id", ondelete="SET NULL"))
    review_claim_expires_at: Mapped[datetime | None] = mapped_column(UTCTimestamp())
    decision: Mapped[str | None] = mapped_column(String(10))
    score_given: Mapped[float | None] = mapped_column()
    score_maximum: Mapped[float | None] = mapped_column()
    decided_at: Mapped[datetime | None] = mapped_column(UTCTimestamp())
    released_at: Mapped[datetime | None] = mapped_column(UTCTimestamp())
    released_by_id: Mapped[int | None] = mapped_column(ForeignKey("lti_user.id", ondelete="SET NULL"))
    reopen_allowed: Mapped[bool] = mapped_column(default=False)  # the `manual` reopen rule: someone allowed it

    attempt = relationship("Attempt")
    microcredential = relationship("MicroCredential")
    context = relationship("Context")
    scorings: Mapped[list[Scoring]] = relationship(
        back_populates="assessment", order_by="Scoring.id", cascade="all, delete-orphan"
    )

    @property
    def label(self) -> str:
        """'Submission 7F3K' (attempt 2 and later: '· attempt 2'): the only name an assessor ever sees."""
        suffix = f" · attempt {self.attempt_number}" if self.attempt_number > 1 else ""
        return f"Submission {self.pseudonym}{suffix}"

    def scoring(self, slot: str) -> Scoring | None:
        return next((s for s in self.scorings if s.slot == slot), None)

    @property
    def record(self) -> Scoring | None:
        """The scoring whose levels and feedback the educator receives: the third's when one reconciled."""
        third = self.scoring(Slot.THIRD)
        if third is not None and third.is_complete:
            return third
        first = self.scoring(Slot.FIRST)
        return first if first is not None and first.is_complete else None

    def scorer_ids(self) -> set[int]:
        return {s.assessor_id for s in self.scorings}

    @property
    def decision_label(self) -> str:
        return DECISION_LABELS.get(self.decision, "") if self.decision else ""

    def is_overdue(self, now: datetime | None = None) -> bool:
        return self.released_at is None and (now or utcnow()) > self.due_at


class Scoring(TimestampMixin, db.Model):
    """One assessor's scoring of an attempt against the rubric: a level and written feedback per criterion.

    Claimed while in progress (`claim_expires_at`), so two assessors never score the same slot at once;
    `version` grows with every save, so a stale tab cannot overwrite newer text.
    """

    __tablename__ = "assessment_scoring"
    __table_args__ = (
        UniqueConstraint("assessment_id", "slot"),
        CheckConstraint("slot IN ('first', 'second', 'third')", name="slot_known"),
        CheckConstraint("status IN ('inprogress', 'complete')", name="status_known"),
        CheckConstraint("status <> 'complete' OR (completed_at IS NOT NULL AND decision IS NOT NULL)",
                        name="complete_has_decision"),
        CheckConstraint("decision IS NULL OR decision IN ('earned', 'notyet')", name="decision_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("assessment_assessment.id", ondelete="CASCADE"))
    slot: Mapped[str] = mapped_column(String(10))
    assessor_id: Mapped[int] = mapped_column(ForeignKey("lti_user.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(12), default=ScoringStatus.IN_PROGRESS.value)
    levels: Mapped[dict] = mapped_column(JSON, default=dict)  # {criterion key: level key}
    feedback: Mapped[dict] = mapped_column(JSON, default=dict)  # {criterion key: text}
    decision: Mapped[str | None] = mapped_column(String(10))
    version: Mapped[int] = mapped_column(default=0)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCTimestamp())
    claim_expires_at: Mapped[datetime | None] = mapped_column(UTCTimestamp())
    completed_at: Mapped[datetime | None] = mapped_column(UTCTimestamp())

    assessment: Mapped[Assessment] = relationship(back_populates="scorings")
    assessor = relationship("LtiUser")

    @property
    def is_complete(self) -> bool:
        return self.status == ScoringStatus.COMPLETE

    def is_claimed(self, now: datetime | None = None) -> bool:
        """In progress and its claim has not run out."""
        return (not self.is_complete and self.claim_expires_at is not None
                and self.claim_expires_at > (now or utcnow()))


class AssessorGrant(TimestampMixin, db.Model):
    """An organization assessor: may assess one micro-credential in every course of one platform."""

    __tablename__ = "assessment_assessor_grant"
    __table_args__ = (UniqueConstraint("user_id", "microcredential_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("lti_registration.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("lti_user.id", ondelete="CASCADE"))
    microcredential_id: Mapped[int] = mapped_column(ForeignKey("catalog_microcredential.id", ondelete="CASCADE"))
    is_active: Mapped[bool] = mapped_column(default=True)
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("lti_user.id", ondelete="SET NULL"))

    user = relationship("LtiUser", foreign_keys=[user_id])
    microcredential = relationship("MicroCredential")


class AssessmentEvent(db.Model):
    """The audit log: who changed an assessment, when, from which state to which, and what changed."""

    __tablename__ = "assessment_event"
    __table_args__ = (Index("ix_assessment_event_assessment", "assessment_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("assessment_assessment.id", ondelete="CASCADE"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("lti_user.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(40))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(UTCTimestamp(), default=utcnow, index=True)

    actor = relationship("LtiUser")
    assessment = relationship("Assessment")
