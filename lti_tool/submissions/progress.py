"""The course's progress for instructors: the NRPS roster joined with each educator's latest attempt.

Built for large courses: a page costs a constant number of queries (memberships with their users, enrollments
with their latest attempts, then those attempts' assessment facts), whatever the size of the roster. Rows
never carry an assessor's identity: the instructor sees where the work stands, not who assesses it.

The assessment facts (decision, due date, release, released score) come from the `assessment` package, which
depends on this one: it registers a reader with `register_assessment_reader` at app start, so nothing here
imports it. The badge facts (issued, revoked) come the same way from `badges` (`register_badge_reader`), read
only when a row has earned. The grade the LMS holds now is read through AGS results when the page opens
(`current_lms_grades`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, func

from lti_tool.core.dates import local_iso
from lti_tool.core.models import utcnow
from lti_tool.core.spreadsheets import csv_text
from lti_tool.extensions import cache, db
from lti_tool.lti.access_tokens import ServiceError
from lti_tool.lti.ags import get_results
from lti_tool.lti.models import Context, LtiUser, Membership, ResourceLink
from lti_tool.lti.nrps import read_roster
from lti_tool.lti.roles import EDUCATOR, duties_for_roles
from lti_tool.submissions.models import Attempt, Enrollment, MarkingStatus, SubmissionStatus

NOT_STARTED = "not_started"
DRAFT = "draft"
SUBMITTED = "submitted"
IN_ASSESSMENT = "in_assessment"
EARNED = "earned"
NOT_YET = "not_yet"

# In the order of the work: the counts and a sort by state follow it.
STATES = (NOT_STARTED, DRAFT, SUBMITTED, IN_ASSESSMENT, EARNED, NOT_YET)
STATE_LABELS = {
    NOT_STARTED: "Not started",
    DRAFT: "Draft",
    SUBMITTED: "Submitted",
    IN_ASSESSMENT: "In assessment",
    EARNED: "Earned",
    NOT_YET: "Not yet",
}
# Flags cut across the states: a released decision (earned or not yet), work past its assessment due date and
# not released, a resubmission (attempt 2 or later). Each can be counted and filtered like a state.
RELEASED = "released"
OVERDUE = "overdue"
RESUBMITTED = "resubmitted"
FLAGS = (RELEASED, OVERDUE, RESUBMITTED)
FLAG_LABELS = {RELEASED: "Released", OVERDUE: "Overdue", RESUBMITTED: "Resubmitted"}
FILTERS = STATES + FLAGS
SORTS = ("name", "state", "last_modified", "submitted", "due")

_IN_ASSESSMENT_MARKING = {
    MarkingStatus.IN_MARKING.value,
    MarkingStatus.READY_FOR_REVIEW.value,
    MarkingStatus.IN_REVIEW.value,
    MarkingStatus.READY_FOR_RELEASE.value,
}
# The instructor's page reads the roster again when it opens and the last read is older than this (or there
# was none): a learner added in the LMS appears without a click, and paging through a large course does not
# ask the LMS each time. The "Refresh roster" button reads it at any time.
ROSTER_MAX_AGE = timedelta(minutes=15)
ROSTER_RETRY_SECONDS = 60  # an LMS that failed to give the roster is asked again on opening after this
_SYNC_CHUNK = 500  # rows per IN (…) lookup while syncing: well under every database's parameter limit
# The grades the LMS holds are read when the page opens, at most this often (paging, sorting and filtering within
# a minute reuse them); an LMS that failed is asked again only after as long.
LMS_GRADES_MAX_AGE_SECONDS = 60
_DECISIONS = {"earned": EARNED, "notyet": NOT_YET}  # the assessment's decision → the progress state


@dataclass(frozen=True)
class AssessmentFacts:
    """What an instructor may know of an attempt's assessment: never who assesses, never the rubric scores."""

    decision: str | None  # "earned" or "notyet", once decided
    due_at: datetime | None
    released_at: datetime | None
    score_given: float | None = None  # the score released to the LMS
    score_maximum: float | None = None


AssessmentReader = Callable[..., dict[int, AssessmentFacts]]
_READER_KEY = "progress_assessment_reader"


def register_assessment_reader(app, reader: AssessmentReader) -> None:
    """Give the progress view its assessment facts: `reader(attempt_ids)` → {attempt id: AssessmentFacts}, where
    `attempt_ids` is a SELECT of attempt ids (one query, whatever the roster's size). Called by `assessment`."""
    app.extensions[_READER_KEY] = reader


def _assessment_facts(attempt_ids) -> dict[int, AssessmentFacts]:
    reader = current_app.extensions.get(_READER_KEY)
    return reader(attempt_ids) if reader is not None else {}


@dataclass(frozen=True)
class BadgeFacts:
    """What an instructor sees of the badge an attempt earned: whether and when it was issued, or revoked."""

    status: str  # "awaiting_email" (the educator must confirm an email first), "issued" or "revoked"
    issued_at: datetime | None
    revoked_at: datetime | None = None

    @property
    def is_awaiting_email(self) -> bool:
        return self.status == "awaiting_email"


BadgeReader = Callable[..., dict[int, BadgeFacts]]
_BADGE_READER_KEY = "progress_badge_reader"


def register_badge_reader(app, reader: BadgeReader) -> None:
    """Give the progress view its badge facts: `reader(attempt_ids)` → {attempt id: BadgeFacts}, where
    `attempt_ids` is a SELECT of attempt ids (one query per page). Called by `badges`."""
    app.extensions[_BADGE_READER_KEY] = reader


def _badge_facts(attempt_ids) -> dict[int, BadgeFacts]:
    reader = current_app.extensions.get(_BADGE_READER_KEY)
    return reader(attempt_ids) if reader is not None else {}


class RosterUnavailable(Exception):
    """The LMS could not give the roster now; what the tool already knows stays as it was."""


@dataclass(frozen=True)
class ProgressRow:
    """One educator's place in the work, as an instructor may see it (no assessor, no rubric scores)."""

    user_id: int
    name: str
    email: str
    state: str
    attempt_number: int | None
    last_modified_at: datetime | None
    submitted_at: datetime | None
    sub: str = ""  # the LMS's id of the person: their AGS results are keyed by it
    due_at: datetime | None = None  # when the assessment of the latest submitted attempt is due
    released_at: datetime | None = None
    score_given: float | None = None  # what the tool released to the LMS
    score_maximum: float | None = None
    flags: tuple[str, ...] = ()
    badge: BadgeFacts | None = None  # the badge the latest attempt earned

    @property
    def state_label(self) -> str:
        return STATE_LABELS[self.state]

    @property
    def flag_labels(self) -> list[str]:
        return [FLAG_LABELS[flag] for flag in self.flags]

    def matches(self, status: str) -> bool:
        """In this state, or carrying this flag."""
        return self.state == status or status in self.flags

    @property
    def is_overdue(self) -> bool:
        return OVERDUE in self.flags


# -- the roster ----------------------------------------------------------------------------------------
def sync_roster(context: Context) -> int:
    """Read the whole NRPS roster (every page) and upsert its users and memberships; returns the member count.

    The roster is read completely before anything changes, so an LMS failing on page 7 leaves the last
    known roster untouched (and `Context.roster_synced_at` as it was). Members no longer on the roster are
    marked `Deleted`, never removed (NRPS 2.0 §2.3 member status). Flushes, never commits.
    """
    if not context.memberships_url:
        raise RosterUnavailable(
            "The LMS did not offer its roster service (Names and Role Provisioning) for this course."
        )
    registration = context.deployment.registration
    try:
        members = read_roster(registration, context.memberships_url)
    except ServiceError as error:
        raise RosterUnavailable(str(error)) from error

    subs = [m["user_id"] for m in members]
    users = {}
    for chunk in _chunks(subs):
        users.update(
            (u.sub, u)
            for u in db.session.scalars(
                db.select(LtiUser).where(LtiUser.issuer == registration.issuer, LtiUser.sub.in_(chunk))
            )
        )
    memberships = {
        m.user_id: m for m in db.session.scalars(db.select(Membership).where(Membership.context_id == context.id))
    }
    for member in members:
        user = users.get(member["user_id"])
        if user is None:
            user = users[member["user_id"]] = LtiUser(issuer=registration.issuer, registration_id=registration.id,
                                                      sub=member["user_id"])
            db.session.add(user)
        # A platform may withhold names and emails (LTI 1.3 Core §5.3.6): keep what a launch told us.
        for field in ("name", "given_name", "family_name", "email"):
            if member.get(field):
                setattr(user, field, member[field])
    db.session.flush()  # new users get their ids

    on_roster = set()
    for member in members:
        user = users[member["user_id"]]
        on_roster.add(user.id)
        membership = memberships.get(user.id)
        if membership is None:
            membership = Membership(context_id=context.id, user_id=user.id)
            db.session.add(membership)
        membership.roles = list(member.get("roles") or [])
        membership.status = member.get("status") or "Active"
    for user_id, membership in memberships.items():
        if user_id not in on_roster:
            membership.status = "Deleted"
    context.roster_synced_at = utcnow()
    db.session.flush()
    return len(members)


def refresh_stale_roster(context: Context) -> str | None:
    """On opening the page: read the roster when it is stale; the reason it could not be read, if it could not.

    Nothing was changed when it fails (the roster is read in full before anything is written): the page shows
    the last known roster and says why it may be incomplete. An LMS that is down is asked again after a
    minute, not on every opening (each attempt may wait for a timeout). Flushes, never commits.
    """
    failed_recently_key = f"roster-read-failed:{context.id}"
    if not roster_is_stale(context) or cache.get(failed_recently_key):
        return None
    try:
        sync_roster(context)
    except RosterUnavailable as error:
        current_app.logger.warning("roster of context %s not read on opening: %s", context.id, error)
        cache.set(failed_recently_key, 1, timeout=ROSTER_RETRY_SECONDS)
        return str(error)
    return None


def roster_is_stale(context: Context, now: datetime | None = None) -> bool:
    """Whether the page should read the roster on opening: the LMS offers it, and it was never read or long ago."""
    if not context.memberships_url:
        return False
    synced_at = context.roster_synced_at
    return synced_at is None or (now or utcnow()) - synced_at > ROSTER_MAX_AGE


def _chunks(values: list, size: int = _SYNC_CHUNK):
    for start in range(0, len(values), size):
        yield values[start : start + size]


# -- the rows ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LatestAttempt:
    """What `state_of` reads of an educator's latest attempt: its states and its assessment's decision."""

    status: str
    marking_status: str
    decision: str | None = None


def decision_of(attempt) -> str | None:
    """The released decision of an attempt, "earned" or "not_yet" (None: none known); reads its `decision`."""
    return _DECISIONS.get(getattr(attempt, "decision", None))


def state_of(attempt) -> str:
    """An attempt's progress state (None: nothing started). A released attempt without a decision is in assessment."""
    if attempt is None or attempt.status == SubmissionStatus.NEW:
        return NOT_STARTED
    if attempt.status in (SubmissionStatus.DRAFT, SubmissionStatus.REOPENED):
        return DRAFT
    if attempt.marking_status == MarkingStatus.NOT_MARKED:
        return SUBMITTED
    if attempt.marking_status in _IN_ASSESSMENT_MARKING:
        return IN_ASSESSMENT
    decision = decision_of(attempt)
    if decision == EARNED:
        return EARNED
    if decision == NOT_YET:
        return NOT_YET
    return IN_ASSESSMENT


def _display_name(name, given_name, family_name) -> str:
    full = " ".join(p for p in (given_name, family_name) if p)
    return name or full or "Unnamed user"


def course_rows(context: Context, resource_link: ResourceLink, *, now: datetime | None = None) -> list[ProgressRow]:
    """Every educator of the course for this activity, unsorted: active Learner members plus anyone enrolled here.

    Four queries whatever the roster's size (the assessment facts only where a reader is registered and some work
    was submitted; the badge facts only where some work was released as *Earned*).
    """
    now = now or utcnow()
    people: dict[int, tuple] = {}
    members = db.session.execute(
        db.select(
            LtiUser.id, LtiUser.sub, LtiUser.name, LtiUser.given_name, LtiUser.family_name, LtiUser.email,
            Membership.roles,
        )
        .join(Membership, Membership.user_id == LtiUser.id)
        .where(Membership.context_id == context.id, Membership.status == "Active")
    )
    is_educator: dict[tuple, bool] = {}  # a course has few distinct role sets: decide each once
    for user_id, sub, name, given_name, family_name, email, roles in members:
        key = tuple(roles or ())
        if key not in is_educator:
            is_educator[key] = EDUCATOR in duties_for_roles(list(key))
        if is_educator[key]:
            people[user_id] = (_display_name(name, given_name, family_name), email or "", sub)

    latest = (
        db.select(Attempt.enrollment_id, func.max(Attempt.number).label("number"))
        .join(Enrollment, Enrollment.id == Attempt.enrollment_id)
        .where(Enrollment.resource_link_id == resource_link.id)
        .group_by(Attempt.enrollment_id)
        .subquery()
    )
    enrolled = db.session.execute(
        db.select(
            LtiUser.id.label("user_id"), LtiUser.sub, LtiUser.name, LtiUser.given_name, LtiUser.family_name,
            LtiUser.email, Attempt.id.label("attempt_id"), Attempt.number, Attempt.status, Attempt.marking_status,
            Attempt.content_changed_at, Attempt.submitted_at,
        )
        .select_from(Enrollment)
        .join(LtiUser, LtiUser.id == Enrollment.user_id)
        .outerjoin(latest, latest.c.enrollment_id == Enrollment.id)
        .outerjoin(Attempt, and_(Attempt.enrollment_id == Enrollment.id, Attempt.number == latest.c.number))
        .where(Enrollment.resource_link_id == resource_link.id)
        .order_by(Enrollment.id)
    )
    enrolled = enrolled.all()
    facts: dict[int, AssessmentFacts] = {}
    latest_ids = db.select(Attempt.id).join(latest, and_(latest.c.enrollment_id == Attempt.enrollment_id,
                                                         Attempt.number == latest.c.number))
    if any(r.submitted_at is not None for r in enrolled):
        facts = _assessment_facts(latest_ids)
    badges: dict[int, BadgeFacts] = {}
    if any(fact.released_at is not None and _DECISIONS.get(fact.decision) == EARNED for fact in facts.values()):
        badges = _badge_facts(latest_ids)
    rows: dict[int, ProgressRow] = {}
    for r in enrolled:
        fact = facts.get(r.attempt_id) if r.attempt_id is not None else None
        display, mail, sub = people.get(r.user_id) or (
            _display_name(r.name, r.given_name, r.family_name), r.email or "", r.sub)
        # Several terms through one activity: the latest enrollment speaks for the educator.
        rows[r.user_id] = ProgressRow(
            user_id=r.user_id, name=display, email=mail, state=state_of(_latest(r, fact)), attempt_number=r.number,
            last_modified_at=r.content_changed_at or r.submitted_at, submitted_at=r.submitted_at, sub=sub,
            due_at=fact.due_at if fact else None, released_at=fact.released_at if fact else None,
            score_given=fact.score_given if fact and fact.released_at else None,
            score_maximum=fact.score_maximum if fact and fact.released_at else None,
            flags=_flags(r, fact, now), badge=badges.get(r.attempt_id) if r.attempt_id is not None else None,
        )
    for user_id, (display, mail, sub) in people.items():
        if user_id not in rows:
            rows[user_id] = ProgressRow(
                user_id=user_id, name=display, email=mail, state=NOT_STARTED, attempt_number=None,
                last_modified_at=None, submitted_at=None, sub=sub,
            )
    return list(rows.values())


def _latest(row, fact: AssessmentFacts | None) -> LatestAttempt | None:
    if row.number is None:
        return None
    return LatestAttempt(row.status, row.marking_status, fact.decision if fact is not None else None)


def _flags(row, fact: AssessmentFacts | None, now: datetime) -> tuple[str, ...]:
    flags = []
    if row.status == SubmissionStatus.SUBMITTED and row.marking_status == MarkingStatus.RELEASED:
        flags.append(RELEASED)
    if (row.status == SubmissionStatus.SUBMITTED and fact is not None and fact.released_at is None
            and fact.due_at is not None and fact.due_at < now):
        flags.append(OVERDUE)
    if (row.number or 0) >= 2:  # a later attempt exists only because the work was reopened for a resubmission
        flags.append(RESUBMITTED)
    return tuple(flags)


def count_states(rows: list[ProgressRow]) -> dict[str, int]:
    """How many educators are in each state, then carry each flag; every key present (zeros too)."""
    counts = dict.fromkeys(FILTERS, 0)
    for row in rows:
        counts[row.state] += 1
        for flag in row.flags:
            counts[flag] += 1
    return counts


def filter_and_sort(
    rows: list[ProgressRow], *, status: str | None = None, sort: str = "name", descending: bool = False
) -> list[ProgressRow]:
    """Rows in one state or with one flag (or all), sorted; rows without the sorted value come last either way,
    then by name."""
    if status is not None:
        rows = [r for r in rows if r.matches(status)]
    by_name = sorted(rows, key=lambda r: (r.name.casefold(), r.email.casefold(), r.user_id))
    if sort == "name":
        return by_name[::-1] if descending else by_name
    value = {
        "state": lambda r: STATES.index(r.state),
        "last_modified": lambda r: r.last_modified_at,
        "submitted": lambda r: r.submitted_at,
        "due": lambda r: r.due_at if r.released_at is None else None,
    }[sort]
    present = [r for r in by_name if value(r) is not None]
    missing = [r for r in by_name if value(r) is None]
    return sorted(present, key=value, reverse=descending) + missing  # sorted() is stable: name breaks ties


def progress_rows(
    context: Context, resource_link: ResourceLink, *, status: str | None = None, sort: str = "name",
    descending: bool = False,
) -> list[ProgressRow]:
    """One row per educator of the course for this activity, filtered by state (or flag) and sorted."""
    if status is not None and status not in FILTERS:
        raise ValueError(f"unknown progress state {status!r}")
    if sort not in SORTS:
        raise ValueError(f"unknown sort {sort!r}")
    return filter_and_sort(course_rows(context, resource_link), status=status, sort=sort, descending=descending)


# -- CSV -----------------------------------------------------------------------------------------------
CSV_HEADER = ("Name", "Email", "State", "Attempt", "Last modified", "Submitted", "Badge issued", "Revoked",
              "Time zone")
AWAITING_EMAIL_TEXT = "awaiting the educator's email"


def _badge_issued(badge: BadgeFacts | None, time_zone: str) -> str:
    if badge is None:
        return ""
    return AWAITING_EMAIL_TEXT if badge.is_awaiting_email else local_iso(badge.issued_at, time_zone)


def progress_csv(rows: list[ProgressRow], time_zone: str) -> str:
    """The rows as CSV text: name, email, state label, attempt, last modified, submitted, badge issued and revoked
    (ISO 8601 with the offset of `time_zone`), and the zone named in the last column (the rule of core/dates).

    Every cell goes through the shared guard: a name a spreadsheet would run as a formula stays text."""
    return csv_text(CSV_HEADER, (
        (r.name, r.email, r.state_label, r.attempt_number or "", local_iso(r.last_modified_at, time_zone),
         local_iso(r.submitted_at, time_zone), _badge_issued(r.badge, time_zone),
         local_iso(r.badge.revoked_at, time_zone) if r.badge else "", time_zone)
        for r in rows
    ))


# -- the grades the LMS holds ----------------------------------------------------------------------------
@dataclass(frozen=True)
class LmsGrade:
    """One person's result in the LMS gradebook (AGS 2.0 §3.3): a score out of a maximum, or none."""

    score: float | None
    maximum: float | None


@dataclass(frozen=True)
class LmsGrades:
    """The grades the LMS holds for one activity, by the person's LMS id (`sub`); or why there are none."""

    by_sub: dict
    is_unavailable: bool = False  # the LMS did not answer: the page says so and carries on
    has_line_item: bool = True  # no gradebook column yet: nothing to read


@dataclass(frozen=True)
class GradeCheck:
    """The LMS's grade for a row, and whether it differs from the score the tool released (changed by hand)."""

    lms: LmsGrade | None
    is_changed: bool


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def read_lms_grades(resource_link: ResourceLink) -> dict[str, LmsGrade]:
    """Every result of the activity's line item, in one results call across its pages; raises ServiceError."""
    line_item = resource_link.line_item
    registration = resource_link.context.deployment.registration
    grades = {}
    for result in get_results(registration, line_item.url):
        sub = result.get("userId") if isinstance(result, dict) else None
        if isinstance(sub, str):
            grades[sub] = LmsGrade(_number(result.get("resultScore")),
                                   _number(result.get("resultMaximum")) or line_item.score_maximum)
    return grades


def current_lms_grades(resource_link: ResourceLink) -> LmsGrades:
    """The grades the LMS holds now, read when the page opens and kept LMS_GRADES_MAX_AGE_SECONDS (also when the
    LMS failed: each try may wait for a timeout). Never raises: an LMS that is down must not break the page."""
    if resource_link.line_item is None:
        return LmsGrades({}, has_line_item=False)
    key = f"lms-grades:{resource_link.id}:{resource_link.line_item.url}"
    grades = cache.get(key)
    if grades is None:
        try:
            grades = LmsGrades(read_lms_grades(resource_link))
        except ServiceError as error:
            current_app.logger.warning("LMS grades of resource link %s not read: %s", resource_link.id, error)
            grades = LmsGrades({}, is_unavailable=True)
        cache.set(key, grades, timeout=LMS_GRADES_MAX_AGE_SECONDS)
    return grades


def _share(score: float, maximum: float | None) -> float:
    return score / maximum if maximum else score


def check_grade(row: ProgressRow, grades: LmsGrades) -> GradeCheck:
    """The LMS's grade next to the released score: changed when the LMS holds another share of the maximum.

    Only a released latest attempt is compared: before release the tool has sent no score for it (and an
    earlier attempt's grade may still stand), and a released score not in the LMS yet may be in the outbox."""
    grade = grades.by_sub.get(row.sub)
    is_changed = (RELEASED in row.flags and row.score_given is not None and grade is not None
                  and grade.score is not None
                  and abs(_share(grade.score, grade.maximum) - _share(row.score_given, row.score_maximum)) > 1e-6)
    return GradeCheck(grade, is_changed)
