"""Verbs of assessment: open, claim, save and complete a scoring, review, release, reassign, resubmit.

Each verb checks the marking state it starts from and moves it with one conditional UPDATE, so two people
(or two tabs) acting at once never both win: the loser gets a `Conflict` (409) that says what happened.
Each records what it changed in the audit log (`AssessmentEvent`). They flush, never commit.

Marking workflow (Moodle's names, DESIGN.md):
  notmarked → inmarking (a scoring is claimed) → readyforreview (when the micro-credential asks for a review)
  → inreview → readyforrelease → released. Double-blind: two independent scorings; when their decisions
  differ a third assessor, who sees both, decides. Only `release` tells the educator and the LMS.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from blinker import Namespace
from flask import current_app
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from lti_tool.assessment import rubric
from lti_tool.assessment.allocation import AssessorScope, is_active_assessor
from lti_tool.assessment.models import (
    Assessment,
    AssessmentEvent,
    AssessorGrant,
    Decision,
    Scoring,
    ScoringStatus,
    Slot,
)
from lti_tool.catalog.models import MicroCredential
from lti_tool.core.dates import add_business_days, parse_holidays
from lti_tool.core.errors import Conflict, InvalidInput, NotAllowed, NotFound
from lti_tool.core.models import utcnow
from lti_tool.extensions import db
from lti_tool.gradebook.services import DEFAULT_SCORE_MAXIMUM, enqueue_score
from lti_tool.lti.models import Context, ResourceLink
from lti_tool.submissions.models import Attempt, Enrollment, MarkingStatus, SubmissionStatus
from lti_tool.submissions.services import DeadlinePassed, copy_attempt

PSEUDONYM_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"  # no 0/O, 1/I/L, U: easy to read aloud
PSEUDONYM_LENGTH = 4

# sender: the Assessment just released (in the request's transaction); the badges follow it.
assessment_released = Namespace().signal("assessment-released")

MARKING_LABELS = {
    MarkingStatus.NOT_MARKED: "Not marked",
    MarkingStatus.IN_MARKING: "In marking",
    MarkingStatus.READY_FOR_REVIEW: "Ready for review",
    MarkingStatus.IN_REVIEW: "In review",
    MarkingStatus.READY_FOR_RELEASE: "Ready for release",
    MarkingStatus.RELEASED: "Released",
}


class ClaimedByAnother(Conflict):
    title = "Another assessor is working on this"


class StaleScoring(Conflict):
    """A save based on an older version of the scoring; the person's levels and text come back to them."""

    title = "Your scoring was not saved"

    def __init__(self, message: str, *, values: dict | None = None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.values = values or {}


class IncompleteScoring(InvalidInput):
    title = "The scoring is not complete"

    def __init__(self, problems: list[str]):
        super().__init__(" ".join(problems))
        self.problems = problems


class WrongState(Conflict):
    """An impossible transition of the marking workflow."""

    title = "That step is not possible now"


# -- the audit log ------------------------------------------------------------------------------------------
def log(assessment: Assessment, actor_id: int | None, action: str, from_status: str | None = None,
        to_status: str | None = None, **details) -> AssessmentEvent:
    """Record a change of an assessment (Indico's `abstract.log(...)`): admins read it, educators never."""
    event = AssessmentEvent(assessment_id=assessment.id, actor_id=actor_id, action=action, from_status=from_status,
                            to_status=to_status, details=details, at=utcnow())
    db.session.add(event)
    return event


def _move(assessment: Assessment, allowed_from: tuple[str, ...], to: str, *, message: str) -> str:
    """Move the attempt's marking state from one of `allowed_from` to `to` in one conditional UPDATE."""
    attempt = assessment.attempt
    current = attempt.marking_status
    moved = db.session.execute(
        update(Attempt).where(Attempt.id == attempt.id, Attempt.marking_status.in_(allowed_from))
        .values(marking_status=to),
        execution_options={"synchronize_session": False},
    )
    if moved.rowcount != 1:
        db.session.expire(attempt, ["marking_status"])
        now_status = db.session.scalar(db.select(Attempt.marking_status).where(Attempt.id == attempt.id))
        raise WrongState(f"{message} It is “{MARKING_LABELS.get(now_status, now_status)}” now.",
                         hint="Reload the page to see where it stands.")
    set_committed_value(attempt, "marking_status", to)  # what the UPDATE wrote, without reading it back
    return current


# -- opening ------------------------------------------------------------------------------------------------
def due_date(submitted_at: datetime) -> datetime:
    """14 business days after submission (ASSESSMENT_DUE_BUSINESS_DAYS), weekends and ASSESSMENT_HOLIDAYS skipped."""
    config = current_app.config
    return add_business_days(submitted_at, int(config["ASSESSMENT_DUE_BUSINESS_DAYS"]),
                             parse_holidays(config["ASSESSMENT_HOLIDAYS"]))


def _new_pseudonym(attempt_number: int) -> str:
    while True:
        code = "".join(secrets.choice(PSEUDONYM_ALPHABET) for _ in range(PSEUDONYM_LENGTH))
        taken = db.session.scalar(db.select(Assessment.id).where(Assessment.pseudonym == code).limit(1))
        if taken is None:
            return code


def open_assessment(attempt: Attempt, *, now: datetime | None = None) -> Assessment:
    """A submitted attempt enters the queue: pseudonym, due date, settings of its micro-credential.

    A resubmission keeps the pseudonym of the attempt before it and goes back to that attempt's assessor
    while they are active (ASSESSOR_ACTIVE_DAYS); otherwise to the queue.
    """
    now = now or utcnow()
    enrollment = attempt.enrollment
    microcredential = enrollment.microcredential
    context = enrollment.resource_link.context
    previous = _assessment_of_attempt_before(attempt)
    preferred = None
    if previous is not None and previous.record is not None:
        preferred = previous.record.assessor_id
    assessment = Assessment(
        attempt_id=attempt.id,
        registration_id=context.deployment.registration_id,
        context_id=context.id,
        microcredential_id=microcredential.id,
        educator_id=enrollment.user_id,
        pseudonym=previous.pseudonym if previous is not None else _new_pseudonym(attempt.number),
        attempt_number=attempt.number,
        submitted_at=attempt.submitted_at or now,
        due_at=due_date(attempt.submitted_at or now),
        is_double_blind=microcredential.double_blind,
        needs_review=microcredential.review_before_release,
    )
    db.session.add(assessment)
    db.session.flush()
    if preferred is not None and is_active_assessor(preferred, assessment, now):
        assessment.preferred_assessor_id = preferred
    log(assessment, None, "submitted", None, MarkingStatus.NOT_MARKED.value,
        attempt=attempt.number, returned_to_previous_assessor=assessment.preferred_assessor_id is not None)
    return assessment


def _assessment_of_attempt_before(attempt: Attempt) -> Assessment | None:
    if attempt.number <= 1:
        return None
    return db.session.scalar(
        db.select(Assessment).join(Attempt, Attempt.id == Assessment.attempt_id)
        .where(Attempt.enrollment_id == attempt.enrollment_id, Attempt.number < attempt.number)
        .order_by(Attempt.number.desc()).limit(1)
    )


def on_attempt_submitted(attempt: Attempt, now: datetime | None = None, **_) -> None:
    """Receiver of `submissions.signals.attempt_submitted`."""
    db.session.refresh(attempt)
    open_assessment(attempt, now=now)


# -- finding ------------------------------------------------------------------------------------------------
def get_assessment_in_scope(assessment_id: int, scope: AssessorScope) -> Assessment:
    """An assessment this person may assess; anything else is 'not found' (its existence is not revealed)."""
    assessment = db.session.get(Assessment, assessment_id)
    if assessment is None or not scope.covers(assessment):
        raise NotFound("That submission is not in your assessment queue.",
                       hint="Open the queue to see the submissions you may assess.")
    return assessment


def claim_minutes() -> int:
    return int(current_app.config["ASSESSMENT_CLAIM_MINUTES"])


# -- claiming and scoring -----------------------------------------------------------------------------------
def slot_for(assessment: Assessment, user_id: int, now: datetime) -> str | None:
    """The slot this person would score now, or None when none is open to them."""
    mine = next((s for s in assessment.scorings if s.assessor_id == user_id), None)
    if mine is not None:
        return mine.slot
    open_slots = [Slot.FIRST]
    if assessment.is_double_blind:
        open_slots.append(Slot.SECOND)
        first, second = assessment.scoring(Slot.FIRST), assessment.scoring(Slot.SECOND)
        if first and second and first.is_complete and second.is_complete and first.decision != second.decision:
            open_slots = [Slot.THIRD]
    for slot in open_slots:
        scoring = assessment.scoring(slot)
        if scoring is None or (not scoring.is_complete and not scoring.is_claimed(now)):
            return slot
    return None


def claim_scoring(assessment: Assessment, user_id: int, *, now: datetime | None = None) -> Scoring:
    """Open a submission to score it: the person's slot is claimed for ASSESSMENT_CLAIM_MINUTES (`inmarking`).

    Reopening one's own scoring renews the claim. A claim that ran out may be taken over by another assessor,
    who continues its draft; the change is logged.
    """
    now = now or utcnow()
    status = assessment.attempt.marking_status
    mine = next((s for s in assessment.scorings if s.assessor_id == user_id), None)
    if mine is not None and (mine.is_complete or status not in (MarkingStatus.NOT_MARKED, MarkingStatus.IN_MARKING)):
        return mine  # read-only from here on: the page shows it as scored
    if status not in (MarkingStatus.NOT_MARKED, MarkingStatus.IN_MARKING):
        raise WrongState(f"{assessment.label} is no longer being marked: it is “{MARKING_LABELS[status]}”.")
    preferred = assessment.preferred_assessor_id
    if (preferred is not None and preferred != user_id and mine is None
            and preferred not in assessment.scorer_ids() and is_active_assessor(preferred, assessment, now)):
        raise ClaimedByAnother(f"{assessment.label} goes back to the assessor of the previous attempt (or to the "
                               "assessor an admin chose).", hint="An admin can reassign it if that assessor is away.")
    slot = slot_for(assessment, user_id, now)
    if slot is None:
        raise ClaimedByAnother(_busy_message(assessment, now), hint="Choose another submission from the queue.")
    if user_id in assessment.scorer_ids() and (mine is None or mine.slot != slot):
        raise ClaimedByAnother("You have already scored this submission; another assessor must take this part.")
    scoring = assessment.scoring(slot)
    expires = now + timedelta(minutes=claim_minutes())
    if scoring is None:
        scoring = Scoring(assessment_id=assessment.id, slot=slot, assessor_id=user_id, levels={}, feedback={},
                          claimed_at=now, claim_expires_at=expires, status=ScoringStatus.IN_PROGRESS.value)
        try:
            with db.session.begin_nested():
                db.session.add(scoring)
        except IntegrityError:  # another assessor opened the same slot at the same moment (unique per slot)
            raise ClaimedByAnother("Someone else opened this submission at the same moment.",
                                   hint="Choose another submission from the queue.") from None
        db.session.expire(assessment, ["scorings"])
        action = "claimed"
    else:
        action = "claim renewed" if scoring.assessor_id == user_id else "claim taken over"
        previous = scoring.assessor_id
        taken = db.session.execute(
            update(Scoring).where(Scoring.id == scoring.id, Scoring.version == scoring.version,
                                  Scoring.status == ScoringStatus.IN_PROGRESS.value)
            .values(assessor_id=user_id, claimed_at=now, claim_expires_at=expires, version=Scoring.version + 1),
            execution_options={"synchronize_session": False},
        )
        db.session.expire(scoring)
        if taken.rowcount != 1:
            raise ClaimedByAnother("Someone else opened this submission at the same moment.",
                                   hint="Choose another submission from the queue.")
        if previous != user_id:
            log(assessment, user_id, action, status, MarkingStatus.IN_MARKING.value, slot=slot,
                previous_assessor_id=previous)
    if status == MarkingStatus.NOT_MARKED:
        _move(assessment, (MarkingStatus.NOT_MARKED.value, MarkingStatus.IN_MARKING.value),
              MarkingStatus.IN_MARKING.value, message="It could not be claimed.")
        log(assessment, user_id, "claimed", status, MarkingStatus.IN_MARKING.value, slot=slot)
    return scoring


def _busy_message(assessment: Assessment, now: datetime) -> str:
    claimed = [s for s in assessment.scorings if s.is_claimed(now)]
    if claimed:
        until = max(s.claim_expires_at for s in claimed)
        return f"{assessment.label} is being scored by another assessor (claimed until {until:%H:%M} UTC)."
    return f"{assessment.label} needs no further scoring from you."


def _changes(before_levels: dict, before_feedback: dict, levels: dict, feedback: dict) -> dict:
    changed = {}
    for key in sorted(set(before_levels) | set(levels)):
        if before_levels.get(key) != levels.get(key):
            changed.setdefault("levels", {})[key] = [before_levels.get(key), levels.get(key)]
    edited = sorted(k for k in set(before_feedback) | set(feedback) if before_feedback.get(k) != feedback.get(k))
    if edited:
        changed["feedback_changed"] = edited
    return changed


def _may_edit(scoring: Scoring, user_id: int, now: datetime) -> None:
    assessment = scoring.assessment
    status = assessment.attempt.marking_status
    if status == MarkingStatus.IN_REVIEW and assessment.reviewer_id == user_id and scoring is assessment.record:
        return
    if scoring.assessor_id != user_id:
        raise NotAllowed("This scoring belongs to another assessor.")
    if scoring.is_complete or status not in (MarkingStatus.IN_MARKING,):
        raise WrongState(f"{assessment.label} is “{MARKING_LABELS.get(status, status)}”: this scoring can no longer "
                         "change.", hint="Reload the page to see where it stands.")


def save_scoring(scoring: Scoring, user_id: int, levels: dict, feedback: dict, expected_version: int, *,
                 now: datetime | None = None) -> Scoring:
    """Keep a draft of the scoring (levels and feedback). A save based on an older version is refused and its
    levels and text handed back (two tabs, two people, a release in between)."""
    now = now or utcnow()
    values = {"levels": levels, "feedback": feedback}
    try:
        _may_edit(scoring, user_id, now)
    except (Conflict, NotAllowed) as error:  # taken over or reassigned meanwhile: the text comes back
        raise StaleScoring(error.message, values=values, hint=error.hint) from None
    if expected_version != scoring.version:
        raise StaleScoring("This scoring was changed in another tab or window after you opened it.", values=values,
                           hint="Your levels and feedback are shown below; reload and save again.")
    changed = _changes(scoring.levels or {}, scoring.feedback or {}, levels, feedback)
    update_values = {"levels": levels, "feedback": feedback, "version": expected_version + 1}
    if scoring.assessor_id == user_id and not scoring.is_complete:
        update_values["claim_expires_at"] = now + timedelta(minutes=claim_minutes())
    saved = db.session.execute(
        update(Scoring).where(Scoring.id == scoring.id, Scoring.version == expected_version).values(**update_values),
        execution_options={"synchronize_session": False},
    )
    db.session.expire(scoring)
    if saved.rowcount != 1:
        raise StaleScoring("This scoring was saved from somewhere else at the same moment.", values=values,
                           hint="Your levels and feedback are shown below; reload and save again.")
    if changed:
        status = scoring.assessment.attempt.marking_status
        log(scoring.assessment, user_id, "scoring saved", status, status, slot=scoring.slot, **changed)
    return scoring


def complete_scoring(scoring: Scoring, user_id: int, levels: dict, feedback: dict, expected_version: int, *,
                     now: datetime | None = None) -> Assessment:
    """Save and finish a scoring; the assessment moves on (to review, to release, to a second or third assessor)."""
    now = now or utcnow()
    assessment = scoring.assessment
    microcredential = assessment.microcredential
    problems = rubric.completion_problems(microcredential, levels, feedback)
    if problems:
        raise IncompleteScoring(problems)
    # Two independent scorings completed at the same moment must not both think the other unfinished: the
    # assessment's row lock orders them, and the second reads the first's outcome.
    _lock(assessment)
    in_review = assessment.attempt.marking_status == MarkingStatus.IN_REVIEW
    save_scoring(scoring, user_id, levels, feedback, expected_version, now=now)
    decision = rubric.decision_for(microcredential, levels).value
    if in_review:
        scoring.decision = decision
        return _decide(assessment, user_id, (MarkingStatus.IN_REVIEW.value,), MarkingStatus.READY_FOR_RELEASE.value,
                       now, "review completed")
    scoring.status = ScoringStatus.COMPLETE.value
    scoring.decision = decision
    scoring.completed_at = now
    scoring.claim_expires_at = None
    db.session.flush()
    log(assessment, user_id, "scoring completed", MarkingStatus.IN_MARKING.value, None, slot=scoring.slot,
        decision=decision)
    if not _is_decided(assessment):
        return assessment  # double-blind: waiting for the other independent scoring, or for a third assessor
    target = MarkingStatus.READY_FOR_REVIEW if assessment.needs_review else MarkingStatus.READY_FOR_RELEASE
    return _decide(assessment, user_id, (MarkingStatus.IN_MARKING.value,), target.value, now, "decided")


def _is_decided(assessment: Assessment) -> bool:
    if not assessment.is_double_blind:
        return assessment.record is not None
    third = assessment.scoring(Slot.THIRD)
    if third is not None:
        return third.is_complete
    first, second = assessment.scoring(Slot.FIRST), assessment.scoring(Slot.SECOND)
    return bool(first and second and first.is_complete and second.is_complete and first.decision == second.decision)


def _decide(assessment: Assessment, user_id: int, allowed_from: tuple[str, ...], to: str, now: datetime,
            action: str) -> Assessment:
    record = assessment.record
    before = _move(assessment, allowed_from, to, message="It could not move on.")
    assessment.decision = record.decision
    assessment.decided_at = now
    if to == MarkingStatus.READY_FOR_RELEASE:
        assessment.review_claim_expires_at = None
    db.session.flush()
    log(assessment, user_id, action, before, to, decision=record.decision)
    return assessment


def disagreement(assessment: Assessment) -> bool:
    """Double-blind: both independent scorings are in and their decisions differ (a third assessor decides)."""
    first, second = assessment.scoring(Slot.FIRST), assessment.scoring(Slot.SECOND)
    return bool(assessment.is_double_blind and first and second and first.is_complete and second.is_complete
                and first.decision != second.decision)


# -- review -------------------------------------------------------------------------------------------------
def claim_review(assessment: Assessment, user_id: int, *, now: datetime | None = None) -> Scoring:
    """A second person reviews the decided scoring before release (`readyforreview` → `inreview`)."""
    now = now or utcnow()
    if user_id in assessment.scorer_ids():
        raise NotAllowed("A review must be done by someone who did not score this submission.")
    status = assessment.attempt.marking_status
    if status == MarkingStatus.IN_REVIEW:
        if assessment.reviewer_id != user_id and assessment.review_claim_expires_at \
                and assessment.review_claim_expires_at > now:
            raise ClaimedByAnother(f"{assessment.label} is being reviewed by someone else.")
    else:
        _move(assessment, (MarkingStatus.READY_FOR_REVIEW.value,), MarkingStatus.IN_REVIEW.value,
              message="It cannot be reviewed now.")
    previous_reviewer = assessment.reviewer_id
    assessment.reviewer_id = user_id
    assessment.review_claim_expires_at = now + timedelta(minutes=claim_minutes())
    db.session.flush()
    if previous_reviewer != user_id:
        log(assessment, user_id, "review claimed", status, MarkingStatus.IN_REVIEW.value,
            previous_reviewer_id=previous_reviewer)
    return assessment.record


# -- release --------------------------------------------------------------------------------------------------
def release_assessment(assessment: Assessment, user_id: int | None, *, now: datetime | None = None) -> Assessment:
    """The only moment the educator and the LMS learn the outcome: decision, score and comment through the outbox.

    One conditional UPDATE (`readyforrelease` → `released`): a double release is a 409 and nothing is sent twice.
    """
    now = now or utcnow()
    before = _move(assessment, (MarkingStatus.READY_FOR_RELEASE.value,), MarkingStatus.RELEASED.value,
                   message=f"{assessment.label} cannot be released.")
    record = assessment.record
    microcredential = assessment.microcredential
    enrollment = assessment.attempt.enrollment
    line_item = enrollment.resource_link.line_item
    # against the column's own maximum; a column still to be created gets the one the tool creates it with
    maximum = line_item.score_maximum if line_item is not None else DEFAULT_SCORE_MAXIMUM
    assessment.score_maximum = maximum
    assessment.score_given = rubric.score_for(microcredential, record.levels, maximum)
    assessment.released_at = now
    assessment.released_by_id = user_id
    enqueue_score(enrollment.resource_link, enrollment.user, "Completed", "FullyGraded",
                  score_given=assessment.score_given, score_maximum=maximum,
                  comment=f"{assessment.decision_label}. {rubric.summary_for(microcredential, record.levels)}")
    log(assessment, user_id, "released", before, MarkingStatus.RELEASED.value, decision=assessment.decision,
        score_given=assessment.score_given, score_maximum=maximum)
    assessment_released.send(assessment)
    return assessment


def release_many(assessment_ids: list[int], scope: AssessorScope | None, user_id: int | None, *,
                 registration_id: int | None = None, now: datetime | None = None) -> tuple[int, list[str]]:
    """Release every listed assessment that is ready; how many, and why the others were not.

    Everything a release reads is loaded up front in a few queries (and held in `loaded`: the session's identity
    map keeps objects only while something refers to them). A release that is refused changes nothing before it
    is refused (`_move` is its first write), so no savepoint is needed and the whole batch is one transaction.
    """
    now = now or utcnow()
    loaded = {a.id: a for a in db.session.scalars(
        db.select(Assessment).where(Assessment.id.in_(assessment_ids)).options(*_RELEASE_LOADING)).unique()}
    released, skipped = 0, []
    with db.session.no_autoflush:  # the new rows go out together at the end, in order (executemany)
        for assessment_id in assessment_ids:
            assessment = loaded.get(assessment_id)
            allowed = assessment is not None and (
                scope.covers(assessment) if scope is not None else assessment.registration_id == registration_id)
            if not allowed:
                skipped.append(f"#{assessment_id}: not in your queue")
                continue
            try:
                release_assessment(assessment, user_id, now=now)
                released += 1
            except Conflict as error:
                skipped.append(f"{assessment.label}: {error.message}")
    db.session.flush()
    return released, skipped


_RELEASE_LOADING = (
    selectinload(Assessment.scorings),
    joinedload(Assessment.attempt).joinedload(Attempt.enrollment).options(
        joinedload(Enrollment.user),
        joinedload(Enrollment.resource_link).options(
            joinedload(ResourceLink.line_item),
            joinedload(ResourceLink.context).joinedload(Context.deployment))),
    joinedload(Assessment.microcredential).options(
        selectinload(MicroCredential.criteria), selectinload(MicroCredential.levels)),
)


# -- reassigning ------------------------------------------------------------------------------------------------
def reassign(assessment: Assessment, new_assessor_id: int, admin_id: int, *, now: datetime | None = None) -> None:
    """An admin hands a submission to another assessor: the open scoring (or the preference) moves to them."""
    now = now or utcnow()
    _lock(assessment)  # never at the same moment as the scoring being completed
    status = assessment.attempt.marking_status
    if status not in (MarkingStatus.NOT_MARKED, MarkingStatus.IN_MARKING):
        raise WrongState(f"{assessment.label} is “{MARKING_LABELS[status]}”: only work still being marked can be "
                         "reassigned.")
    if new_assessor_id == assessment.educator_id:
        raise InvalidInput("Nobody can assess their own work.")
    if new_assessor_id in {s.assessor_id for s in assessment.scorings if s.is_complete}:
        raise InvalidInput("That assessor has already scored this submission.")
    open_scoring = next((s for s in assessment.scorings if not s.is_complete), None)
    if open_scoring is not None:
        if new_assessor_id in {s.assessor_id for s in assessment.scorings if s is not open_scoring}:
            raise InvalidInput("That assessor has already scored this submission.")
        previous = open_scoring.assessor_id
        open_scoring.assessor_id = new_assessor_id
        open_scoring.claimed_at = now
        open_scoring.claim_expires_at = now + timedelta(minutes=claim_minutes())
        open_scoring.version += 1
        log(assessment, admin_id, "reassigned", status, status, slot=open_scoring.slot,
            previous_assessor_id=previous, new_assessor_id=new_assessor_id)
    else:
        previous = assessment.preferred_assessor_id
        assessment.preferred_assessor_id = new_assessor_id
        log(assessment, admin_id, "reassigned", status, status, previous_assessor_id=previous,
            new_assessor_id=new_assessor_id)
    db.session.flush()


# -- the educator's next attempt ------------------------------------------------------------------------------
def latest_assessment(enrollment) -> Assessment | None:
    """The assessment of the enrollment's latest submitted attempt."""
    return db.session.scalar(
        db.select(Assessment).join(Attempt, Attempt.id == Assessment.attempt_id)
        .where(Attempt.enrollment_id == enrollment.id).order_by(Attempt.number.desc()).limit(1)
    )


def resubmission_refusal(enrollment, *, now: datetime | None = None) -> str | None:
    """Why the educator cannot start a resubmission now, or None when they can."""
    now = now or utcnow()
    latest = enrollment.latest_attempt
    if latest is None or latest.status != SubmissionStatus.SUBMITTED:
        return "Your latest attempt is not submitted."
    assessment = latest_assessment(enrollment)
    if assessment is None or assessment.attempt_id != latest.id or assessment.released_at is None:
        return "Your latest attempt has not been assessed yet."
    if assessment.decision != Decision.NOT_YET:
        return "You have earned this micro-credential."
    microcredential = enrollment.microcredential
    if latest.number >= microcredential.max_attempts:
        return f"You have used all {microcredential.max_attempts} attempts for this micro-credential."
    if enrollment.term.is_past_deadline(now):
        return f"The final deadline for {enrollment.term.title} has passed."
    if microcredential.reopen_rule == "manual" and not assessment.reopen_allowed:
        return "A resubmission opens when your instructor or assessor reopens it."
    return None


def start_resubmission(enrollment, *, from_attempt: int | None = None, now: datetime | None = None) -> Attempt:
    """Attempt N+1 as a copy of attempt N (status `reopened`), after a released *Not yet*.

    `from_attempt`: the attempt the person's page showed; when a newer one exists (a double click, a second tab),
    the request is refused with a 409 and nothing changes.
    """
    now = now or utcnow()
    _queue_behind_other_requests(enrollment)
    latest = enrollment.latest_attempt
    if from_attempt is not None and latest is not None and latest.number > from_attempt:
        raise Conflict(f"Your resubmission was already started: attempt {latest.number} is open.",
                       hint="Open the activity again from your course to continue it; nothing was changed.")
    refusal = resubmission_refusal(enrollment, now=now)
    if refusal is not None:
        if enrollment.term.is_past_deadline(now):
            raise DeadlinePassed(refusal, hint="Your earlier work and its feedback stay readable here.")
        raise Conflict(refusal, hint="Your earlier work and its feedback stay readable here.")
    previous = enrollment.latest_attempt
    try:
        with db.session.begin_nested():
            attempt = copy_attempt(previous, now=now)
    except IntegrityError:  # a second click raced the first: attempt N+1 exists already
        raise Conflict("Your resubmission was already started (perhaps in another tab).") from None
    assessment = latest_assessment(enrollment)
    log(assessment, enrollment.user_id, "resubmission started", MarkingStatus.RELEASED.value,
        MarkingStatus.RELEASED.value, new_attempt=attempt.number)
    return attempt


def _lock(assessment: Assessment) -> None:
    """Take the assessment's write lock (a no-op UPDATE) and read its scorings and state afresh after it."""
    db.session.execute(update(Assessment).where(Assessment.id == assessment.id).values(id=Assessment.id),
                       execution_options={"synchronize_session": False})
    db.session.expire(assessment, ["scorings"])
    db.session.expire(assessment.attempt, ["marking_status"])


def _queue_behind_other_requests(enrollment: Enrollment) -> None:
    """Take the enrollment's write lock before reading its attempts again, so that two requests starting a
    resubmission at once run one after the other (PostgreSQL: the row's lock; SQLite: the write lock, taken by
    the transaction's first statement so that the busy timeout applies); the second then sees the first's work."""
    db.session.execute(update(Enrollment).where(Enrollment.id == enrollment.id)
                       .values(last_viewed_at=Enrollment.last_viewed_at),
                       execution_options={"synchronize_session": False})
    db.session.expire(enrollment, ["attempts"])


def allow_resubmission(assessment: Assessment, user_id: int) -> None:
    """The `manual` reopen rule: an instructor or assessor reopens a released *Not yet* for a new attempt."""
    if assessment.released_at is None or assessment.decision != Decision.NOT_YET:
        raise WrongState("Only a released *Not yet* can be reopened for a resubmission.")
    if not assessment.reopen_allowed:
        assessment.reopen_allowed = True
        log(assessment, user_id, "reopened for resubmission", MarkingStatus.RELEASED.value,
            MarkingStatus.RELEASED.value)
    db.session.flush()



# -- organization assessors ---------------------------------------------------------------------------------
def grant_assessor(user, microcredential, admin_id: int) -> AssessorGrant:
    """An admin makes a person of their platform an assessor of one micro-credential in every course."""
    grant = db.session.scalar(db.select(AssessorGrant).where(AssessorGrant.user_id == user.id,
                                                             AssessorGrant.microcredential_id == microcredential.id))
    if grant is None:
        grant = AssessorGrant(registration_id=user.registration_id, user_id=user.id,
                              microcredential_id=microcredential.id, granted_by_id=admin_id)
        db.session.add(grant)
    grant.is_active = True
    grant.granted_by_id = admin_id
    db.session.flush()
    current_app.logger.info("assessor grant: user %s for %s by %s", user.id, microcredential.slug, admin_id)
    return grant


def revoke_assessor(grant: AssessorGrant, admin_id: int) -> None:
    grant.is_active = False
    db.session.flush()
    current_app.logger.info("assessor grant revoked: user %s for %s by %s", grant.user_id, grant.microcredential_id,
                            admin_id)


def organization_assessors(registration_id: int) -> list[AssessorGrant]:
    """The platform's organization assessors, in the order they were named."""
    return list(db.session.scalars(
        db.select(AssessorGrant).where(AssessorGrant.registration_id == registration_id,
                                       AssessorGrant.is_active.is_(True)).order_by(AssessorGrant.id)))


def audit_log(assessment: Assessment) -> list[AssessmentEvent]:
    """Every recorded change of an assessment, oldest first."""
    return list(db.session.scalars(
        db.select(AssessmentEvent).where(AssessmentEvent.assessment_id == assessment.id).order_by(AssessmentEvent.id)))
