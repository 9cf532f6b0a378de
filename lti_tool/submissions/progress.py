"""The course's progress for instructors: the NRPS roster joined with each educator's latest attempt.

Built for large courses: a page costs a constant number of queries (memberships with their users, then
enrollments with their latest attempts), whatever the size of the roster. Rows never carry an assessor's
identity: the instructor sees where the work stands, not who assesses it.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, func

from lti_tool.core.models import utcnow
from lti_tool.extensions import cache, db
from lti_tool.lti.access_tokens import ServiceError
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
SORTS = ("name", "state", "last_modified", "submitted")

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
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


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

    @property
    def state_label(self) -> str:
        return STATE_LABELS[self.state]


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
                db.select(LtiUser).where(LtiUser.registration_id == registration.id, LtiUser.sub.in_(chunk))
            )
        )
    memberships = {
        m.user_id: m for m in db.session.scalars(db.select(Membership).where(Membership.context_id == context.id))
    }
    for member in members:
        user = users.get(member["user_id"])
        if user is None:
            user = users[member["user_id"]] = LtiUser(registration_id=registration.id, sub=member["user_id"])
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
def decision_of(attempt) -> str | None:
    """The released decision of an attempt, "earned" or "not_yet"; accepts an Attempt or a row with its fields."""
    return None  # the assessment decision model arrives with the assessment issue; until then it is unknown


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


def course_rows(context: Context, resource_link: ResourceLink) -> list[ProgressRow]:
    """Every educator of the course for this activity, unsorted: active Learner members plus anyone enrolled here.

    Two queries whatever the roster's size.
    """
    people: dict[int, tuple] = {}
    members = db.session.execute(
        db.select(
            LtiUser.id, LtiUser.name, LtiUser.given_name, LtiUser.family_name, LtiUser.email, Membership.roles
        )
        .join(Membership, Membership.user_id == LtiUser.id)
        .where(Membership.context_id == context.id, Membership.status == "Active")
    )
    is_educator: dict[tuple, bool] = {}  # a course has few distinct role sets: decide each once
    for user_id, name, given_name, family_name, email, roles in members:
        key = tuple(roles or ())
        if key not in is_educator:
            is_educator[key] = EDUCATOR in duties_for_roles(list(key))
        if is_educator[key]:
            people[user_id] = (_display_name(name, given_name, family_name), email or "")

    latest = (
        db.select(Attempt.enrollment_id, func.max(Attempt.number).label("number"))
        .join(Enrollment, Enrollment.id == Attempt.enrollment_id)
        .where(Enrollment.resource_link_id == resource_link.id)
        .group_by(Attempt.enrollment_id)
        .subquery()
    )
    enrolled = db.session.execute(
        db.select(
            LtiUser.id.label("user_id"), LtiUser.name, LtiUser.given_name, LtiUser.family_name, LtiUser.email,
            Attempt.number, Attempt.status, Attempt.marking_status, Attempt.content_changed_at,
            Attempt.submitted_at,
        )
        .select_from(Enrollment)
        .join(LtiUser, LtiUser.id == Enrollment.user_id)
        .outerjoin(latest, latest.c.enrollment_id == Enrollment.id)
        .outerjoin(Attempt, and_(Attempt.enrollment_id == Enrollment.id, Attempt.number == latest.c.number))
        .where(Enrollment.resource_link_id == resource_link.id)
        .order_by(Enrollment.id)
    )
    rows: dict[int, ProgressRow] = {}
    for r in enrolled:
        attempt = r if r.number is not None else None
        display, mail = people.get(r.user_id) or (_display_name(r.name, r.given_name, r.family_name), r.email or "")
        # Several terms through one activity: the latest enrollment speaks for the educator.
        rows[r.user_id] = ProgressRow(
            user_id=r.user_id, name=display, email=mail, state=state_of(attempt), attempt_number=r.number,
            last_modified_at=r.content_changed_at or r.submitted_at, submitted_at=r.submitted_at,
        )
    for user_id, (display, mail) in people.items():
        if user_id not in rows:
            rows[user_id] = ProgressRow(
                user_id=user_id, name=display, email=mail, state=NOT_STARTED, attempt_number=None,
                last_modified_at=None, submitted_at=None,
            )
    return list(rows.values())


def count_states(rows: list[ProgressRow]) -> dict[str, int]:
    """How many educators are in each state, every state present (zeros too), in the order of the work."""
    counts = dict.fromkeys(STATES, 0)
    for row in rows:
        counts[row.state] += 1
    return counts


def filter_and_sort(
    rows: list[ProgressRow], *, status: str | None = None, sort: str = "name", descending: bool = False
) -> list[ProgressRow]:
    """Rows in one state (or all), sorted; rows without the sorted value come last either way, then by name."""
    if status is not None:
        rows = [r for r in rows if r.state == status]
    by_name = sorted(rows, key=lambda r: (r.name.casefold(), r.email.casefold(), r.user_id))
    if sort == "name":
        return by_name[::-1] if descending else by_name
    value = {
        "state": lambda r: STATES.index(r.state),
        "last_modified": lambda r: r.last_modified_at,
        "submitted": lambda r: r.submitted_at,
    }[sort]
    present = [r for r in by_name if value(r) is not None]
    missing = [r for r in by_name if value(r) is None]
    return sorted(present, key=value, reverse=descending) + missing  # sorted() is stable: name breaks ties


def progress_rows(
    context: Context, resource_link: ResourceLink, *, status: str | None = None, sort: str = "name",
    descending: bool = False,
) -> list[ProgressRow]:
    """One row per educator of the course for this activity, filtered by state and sorted."""
    if status is not None and status not in STATES:
        raise ValueError(f"unknown progress state {status!r}")
    if sort not in SORTS:
        raise ValueError(f"unknown sort {sort!r}")
    return filter_and_sort(course_rows(context, resource_link), status=status, sort=sort, descending=descending)


# -- CSV -----------------------------------------------------------------------------------------------
def _safe_cell(value) -> str:
    """A spreadsheet must not run a cell as a formula (OWASP CSV injection): such text gets a leading quote."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_PREFIXES) else text


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""


CSV_HEADER = ("Name", "Email", "State", "Attempt", "Last modified", "Submitted")


def progress_csv(rows: list[ProgressRow]) -> str:
    """The rows as CSV text: name, email, state label, attempt, last modified and submitted (ISO 8601, UTC)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    writer.writerows(
        (
            _safe_cell(r.name), _safe_cell(r.email), r.state_label, r.attempt_number or "",
            _iso(r.last_modified_at), _iso(r.submitted_at),
        )
        for r in rows
    )
    return out.getvalue()
