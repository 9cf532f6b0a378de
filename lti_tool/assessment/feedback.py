"""What people read of an assessment once it is released: the educator's feedback per criterion and part, what
changed since their last visit, and one educator's work for a submission review. Reads only (the verbs that
change anything live in `assessment.services`); nothing here ever names who assessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_

from lti_tool.assessment.models import Assessment, AssessmentEvent, Decision
from lti_tool.assessment.services import resubmission_refusal
from lti_tool.catalog.models import MicroCredential
from lti_tool.core.models import utcnow
from lti_tool.extensions import db
from lti_tool.lti.models import ResourceLink
from lti_tool.submissions.models import Attempt, Enrollment

REOPENED_ACTION = "reopened for resubmission"  # the audit log's name for `allow_resubmission`


@dataclass(frozen=True)
class CriterionFeedback:
    """One criterion of the rubric as the educator reads it: the level reached and the written feedback."""

    key: str
    title: str
    part: str
    level: str
    feedback: str
    meets_required_level: bool


@dataclass(frozen=True)
class Outcome:
    """A released assessment: the decision, then each criterion in rubric order. Never who assessed."""

    attempt_number: int
    decision: str
    decision_label: str
    released_at: datetime
    microcredential_title: str
    criteria: tuple[CriterionFeedback, ...]

    @property
    def is_earned(self) -> bool:
        return self.decision == Decision.EARNED

    def for_part(self, part: str) -> list[CriterionFeedback]:
        """The criteria judged on one part (`overview`, `artifacts`, `reflection`), in rubric order."""
        return [criterion for criterion in self.criteria if criterion.part == part]


@dataclass(frozen=True)
class PageFeedback:
    """What the educator's submission page shows of assessment, for the attempt it shows.

    `is_of_shown_attempt`: the outcome belongs to the attempt on the page (the decision and, after a *Not yet*,
    the way to a resubmission); otherwise the page shows a later attempt and the outcome is the feedback on the
    attempt before it, set beside each part.
    """

    outcome: Outcome
    is_of_shown_attempt: bool
    resubmission_refusal: str | None = None

    @property
    def can_resubmit(self) -> bool:
        return self.is_of_shown_attempt and not self.outcome.is_earned and self.resubmission_refusal is None


def outcome_of(assessment: Assessment | None) -> Outcome | None:
    """The released outcome of an assessment; None before release (nothing of the scoring shows until then)."""
    if assessment is None or assessment.released_at is None or assessment.decision is None:
        return None
    record = assessment.record
    levels = dict(record.levels or {}) if record is not None else {}
    feedback = dict(record.feedback or {}) if record is not None else {}
    microcredential = assessment.microcredential
    level_labels = {level.key: level.label for level in microcredential.levels}
    criteria = tuple(
        CriterionFeedback(
            key=criterion.key,
            title=criterion.title,
            part=criterion.part,
            level=level_labels.get(levels.get(criterion.key, ""), ""),
            feedback=feedback.get(criterion.key, ""),
            meets_required_level=microcredential.meets_required_level(levels.get(criterion.key, "")),
        )
        for criterion in microcredential.criteria
    )
    return Outcome(
        attempt_number=assessment.attempt_number,
        decision=assessment.decision,
        decision_label=assessment.decision_label,
        released_at=assessment.released_at,
        microcredential_title=microcredential.title,
        criteria=criteria,
    )


def latest_released_assessment(enrollment_id: int, up_to_number: int) -> Assessment | None:
    """The released assessment of the latest attempt numbered `up_to_number` or lower."""
    return db.session.scalar(
        db.select(Assessment).join(Attempt, Attempt.id == Assessment.attempt_id)
        .where(Attempt.enrollment_id == enrollment_id, Attempt.number <= up_to_number,
               Assessment.released_at.is_not(None))
        .order_by(Attempt.number.desc()).limit(1)
    )


def feedback_for_page(attempt: Attempt | None) -> PageFeedback | None:
    """The template global `assessment_feedback(attempt)` of the educator's submission page."""
    if attempt is None or attempt.id is None:
        return None
    outcome = outcome_of(latest_released_assessment(attempt.enrollment_id, attempt.number))
    if outcome is None:
        return None
    if outcome.attempt_number != attempt.number:
        return PageFeedback(outcome=outcome, is_of_shown_attempt=False)
    refusal = None if outcome.is_earned else resubmission_refusal(attempt.enrollment)
    return PageFeedback(outcome=outcome, is_of_shown_attempt=True, resubmission_refusal=refusal)


# -- what changed since the educator's last visit ---------------------------------------------------------------
def changes_since_last_visit(enrollment: Enrollment, *, now: datetime | None = None) -> list[str]:
    """What happened to the educator's work since they last opened their page; then marks this visit.

    Receiver of `submissions.signals.submission_page_viewed` (it flushes, never commits).
    """
    now = now or utcnow()
    since = enrollment.last_viewed_at
    query = (
        db.select(Assessment).join(Attempt, Attempt.id == Assessment.attempt_id)
        .where(Attempt.enrollment_id == enrollment.id, Assessment.released_at.is_not(None))
        .order_by(Attempt.number)
    )
    if since is not None:
        query = query.where(Assessment.released_at > since)
    changes = []
    for assessment in db.session.scalars(query):
        if assessment.decision == Decision.EARNED:
            changes.append(f"Your attempt {assessment.attempt_number} was assessed: Earned. "
                           f"You have earned {assessment.microcredential.title}.")
        else:
            changes.append(f"Your attempt {assessment.attempt_number} was assessed: Not yet. Read the feedback below.")
    reopened = (
        db.select(Assessment.attempt_number).join(AssessmentEvent, AssessmentEvent.assessment_id == Assessment.id)
        .join(Attempt, Attempt.id == Assessment.attempt_id)
        .where(Attempt.enrollment_id == enrollment.id, AssessmentEvent.action == REOPENED_ACTION)
        .order_by(Assessment.attempt_number)
    )
    if since is not None:
        reopened = reopened.where(AssessmentEvent.at > since)
    for number in dict.fromkeys(db.session.scalars(reopened)):
        changes.append(f"Attempt {number} was reopened for you: you can start a resubmission.")
    if changes or since is None:  # nothing new: the next visit finds the same changes from either time (no write)
        enrollment.last_viewed_at = now
        db.session.flush()
    return changes


def on_submission_page_viewed(enrollment: Enrollment, now: datetime | None = None, **_) -> list[str]:
    """Receiver of `submissions.signals.submission_page_viewed`: the notices the page shows."""
    return changes_since_last_visit(enrollment, now=now)


# -- one educator's work, for a submission review ----------------------------------------------------------------
@dataclass(frozen=True)
class ReviewedAttempt:
    """An attempt with its assessment, as an instructor reviewing one educator reads it."""

    attempt: Attempt
    assessment: Assessment | None
    outcome: Outcome | None


def _in_course_for(resource_link: ResourceLink):
    """SQL: enrollments in the micro-credential of this activity, made from any activity of its course."""
    return and_(
        Enrollment.resource_link_id.in_(
            db.select(ResourceLink.id).where(ResourceLink.context_id == resource_link.context_id)),
        Enrollment.microcredential_id.in_(
            db.select(MicroCredential.id).where(MicroCredential.slug == resource_link.microcredential_slug)),
    )


def enrollments_for_review(user_id: int, resource_link: ResourceLink) -> list[Enrollment]:
    """The educator's enrollments in this activity's micro-credential and course (one per term), latest first."""
    return list(db.session.scalars(
        db.select(Enrollment).where(Enrollment.user_id == user_id, _in_course_for(resource_link))
        .order_by(Enrollment.id.desc())
    ))


def reviewed_attempts(enrollment: Enrollment) -> list[ReviewedAttempt]:
    """Every attempt of an enrollment, latest first, each with its assessment and released outcome."""
    assessments = {
        a.attempt_id: a for a in db.session.scalars(
            db.select(Assessment).join(Attempt, Attempt.id == Assessment.attempt_id)
            .where(Attempt.enrollment_id == enrollment.id))
    }
    return [ReviewedAttempt(attempt=attempt, assessment=assessments.get(attempt.id),
                            outcome=outcome_of(assessments.get(attempt.id)))
            for attempt in sorted(enrollment.attempts, key=lambda a: a.number, reverse=True)]


def latest_assessment_of_user(user_id: int, resource_link: ResourceLink) -> Assessment | None:
    """The assessment of the educator's latest submitted attempt in this activity's micro-credential and course."""
    return db.session.scalar(
        db.select(Assessment).join(Attempt, Attempt.id == Assessment.attempt_id)
        .join(Enrollment, Enrollment.id == Attempt.enrollment_id)
        .where(Enrollment.user_id == user_id, _in_course_for(resource_link))
        .order_by(Enrollment.id.desc(), Attempt.number.desc()).limit(1)
    )


def is_manual_reopen_possible(assessment: Assessment | None) -> bool:
    """May an instructor allow a resubmission now (the `manual` rule, a released *Not yet* not yet reopened)?"""
    return bool(
        assessment is not None and assessment.microcredential.reopen_rule == "manual"
        and assessment.released_at is not None and assessment.decision == Decision.NOT_YET
        and not assessment.reopen_allowed
        and assessment.attempt.enrollment.latest_attempt is not None
        and assessment.attempt.enrollment.latest_attempt.id == assessment.attempt_id
    )
