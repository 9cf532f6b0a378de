"""The course's progress for instructors: the NRPS roster joined with each educator's latest attempt.

Built for large courses: the rows are filtered, sorted, counted and paged by the database, so a page costs the
same three queries at 20,000 educators as at 500 (the role sets that make an educator, the page's rows with the
counts per state and flag, the badges of that page) and only its rows reach Python; the CSV is read in chunks and
streamed. Rows never carry an assessor's identity: the instructor sees where the work stands, not who assesses it.

The assessment facts (decision, due date, release, released score) come from the `assessment` package, which
depends on this one: it registers a query with `register_assessment_facts` at app start, so nothing here
imports it, and the states, flags and sorts that need those facts are still expressed in SQL. The badge facts
(issued, revoked) come the same way from `badges` (`register_badge_reader`), read for the shown rows only.
The grade the LMS holds now is read through AGS results when the page opens (`current_lms_grades`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import Float, Integer, String, Text, and_, case, cast, false, func, literal, null, true, union_all

from lti_tool.core.dates import local_iso
from lti_tool.core.db import text_order
from lti_tool.core.models import UTCTimestamp, utcnow
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


# What an instructor may know of an attempt's assessment (never who assesses, never the rubric scores): the
# columns of the registered query, one row per assessed attempt.
ASSESSMENT_FACT_COLUMNS = ("attempt_id", "decision", "due_at", "released_at", "score_given", "score_maximum")
AssessmentFacts = Callable[[], object]  # () → a SELECT with ASSESSMENT_FACT_COLUMNS
_FACTS_KEY = "progress_assessment_facts"


def register_assessment_facts(app, facts: AssessmentFacts) -> None:
    """Give the progress view its assessment facts: `facts()` → a SELECT of ASSESSMENT_FACT_COLUMNS (decision
    "earned" or "notyet"), joined by the view on the attempt id. Called by `assessment`."""
    app.extensions[_FACTS_KEY] = facts


def _assessment_facts():
    """The registered facts as a subquery; without `assessment`, an empty one (no attempt is assessed)."""
    facts = current_app.extensions.get(_FACTS_KEY)
    if facts is not None:
        return facts().subquery("facts")
    types = (Integer, String, UTCTimestamp, UTCTimestamp, Float, Float)
    return db.select(*(cast(null(), t).label(c) for c, t in zip(ASSESSMENT_FACT_COLUMNS, types, strict=True))) \
        .where(false()).subquery("facts")


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
_CSV_CHUNK = 1000  # rows per read while the CSV streams (and per badge lookup): memory stays flat
_UNNAMED = "Unnamed user"
_MAX_PAGE = 10**6  # a page number asked beyond this is read as this one (beyond the last: the last page)


def _educator_role_sets(context: Context) -> list[str]:
    """The stored role sets (JSON text) of the course's active members that make an educator: a course has few
    distinct sets, so `duties_for_roles` decides each once and the rows are then filtered on that text."""
    role_sets = db.session.scalars(
        db.select(cast(Membership.roles, Text)).distinct()
        .where(Membership.context_id == context.id, Membership.status == "Active"))
    return [text for text in role_sets if text and EDUCATOR in duties_for_roles(_role_list(text))]


def _role_list(text: str) -> list[str]:
    roles = json.loads(text)
    return [role for role in roles if isinstance(role, str)] if isinstance(roles, list) else []


def _display_name():
    """SQL for `LtiUser.display_name`: the name, else given and family names, else "Unnamed user"."""
    given, family = func.coalesce(LtiUser.given_name, ""), func.coalesce(LtiUser.family_name, "")
    full = case((and_(given != "", family != ""), given + " " + family), else_=given + family)
    return func.coalesce(func.nullif(LtiUser.name, ""), func.nullif(full, ""), _UNNAMED)


class _Columns:
    """The course's rows as one subquery — every educator of the course for this activity, with their latest
    attempt, its assessment facts, its state and flags — and the expressions that filter, sort and count them.

    Two parts, UNION ALL: the people enrolled through this activity (their latest enrollment, its latest attempt:
    each "latest" an anti-join, which the planners estimate well), and the active Learner members of the course
    not enrolled here (nothing started)."""

    def __init__(self, context: Context, resource_link: ResourceLink, now: datetime):
        newer_enrollment = db.aliased(Enrollment)
        newer_attempt = db.aliased(Attempt)
        facts = _assessment_facts()
        submitted = Attempt.status == SubmissionStatus.SUBMITTED.value
        state = case(
            (Attempt.id.is_(None), NOT_STARTED),
            (Attempt.status == SubmissionStatus.NEW.value, NOT_STARTED),
            (Attempt.status.in_((SubmissionStatus.DRAFT.value, SubmissionStatus.REOPENED.value)), DRAFT),
            (Attempt.marking_status == MarkingStatus.NOT_MARKED.value, SUBMITTED),
            (Attempt.marking_status.in_(_IN_ASSESSMENT_MARKING), IN_ASSESSMENT),
            *((facts.c.decision == decision, state) for decision, state in _DECISIONS.items()),
            else_=IN_ASSESSMENT,  # released without a known decision
        )
        flags = {
            RELEASED: and_(submitted, Attempt.marking_status == MarkingStatus.RELEASED.value),
            OVERDUE: and_(submitted, facts.c.attempt_id.is_not(None), facts.c.released_at.is_(None),
                          facts.c.due_at < now),
            # A later attempt exists only because the work was reopened for a resubmission.
            RESUBMITTED: Attempt.number >= 2,
        }
        released = facts.c.released_at.is_not(None)
        enrolled = (
            db.select(
                LtiUser.id.label("user_id"), LtiUser.sub, _display_name().label("name"),
                func.coalesce(LtiUser.email, "").label("email"), state.label("state"),
                Attempt.id.label("attempt_id"), Attempt.number,
                func.coalesce(Attempt.content_changed_at, Attempt.submitted_at).label("last_modified_at"),
                Attempt.submitted_at, facts.c.due_at, facts.c.released_at,
                case((released, facts.c.score_given)).label("score_given"),
                case((released, facts.c.score_maximum)).label("score_maximum"),
                *(case((condition, 1), else_=0).label(flag) for flag, condition in flags.items()),
            )
            .select_from(Enrollment)
            .join(LtiUser, LtiUser.id == Enrollment.user_id)
            .outerjoin(Attempt, and_(Attempt.enrollment_id == Enrollment.id, ~db.select(newer_attempt.id).where(
                newer_attempt.enrollment_id == Enrollment.id, newer_attempt.number > Attempt.number).exists()))
            .outerjoin(facts, facts.c.attempt_id == Attempt.id)
            .where(Enrollment.resource_link_id == resource_link.id,
                   # Several terms through one activity: the latest enrollment speaks for the educator.
                   ~db.select(newer_enrollment.id).where(
                       newer_enrollment.user_id == Enrollment.user_id,
                       newer_enrollment.resource_link_id == resource_link.id,
                       newer_enrollment.id > Enrollment.id).exists())
        )
        nothing = cast(null(), Integer)
        members = (
            db.select(
                LtiUser.id, LtiUser.sub, _display_name(), func.coalesce(LtiUser.email, ""), literal(NOT_STARTED),
                nothing, nothing, cast(null(), UTCTimestamp), cast(null(), UTCTimestamp),
                cast(null(), UTCTimestamp), cast(null(), UTCTimestamp), cast(null(), Float), cast(null(), Float),
                *(literal(0) for _ in flags),
            )
            .select_from(Membership)
            .join(LtiUser, LtiUser.id == Membership.user_id)
            .where(Membership.context_id == context.id, Membership.status == "Active",
                   cast(Membership.roles, Text).in_(_educator_role_sets(context)),
                   ~db.select(Enrollment.id).where(Enrollment.user_id == Membership.user_id,
                                                   Enrollment.resource_link_id == resource_link.id).exists())
        )
        # A CTE: the page reads it twice (its rows and its counts, one query), PostgreSQL and SQLite build it once.
        self.table = union_all(enrolled, members).cte("course_rows")
        self.state = self.table.c.state
        self.flags = {flag: self.table.c[flag] == 1 for flag in FLAGS}

    def condition(self, status: str):
        """In this state, or carrying this flag."""
        return self.flags.get(status, self.state == status)

    def order_by(self, sort: str, descending: bool) -> list:
        """By name (case-insensitive, then email, then id); or by a value, rows without it last in both directions
        and ties by name."""
        c = self.table.c
        by_name = [text_order(c.name), text_order(c.email), c.user_id]
        if sort == "name":
            return [key.desc() for key in by_name] if descending else by_name
        value = {
            "state": case(*((self.state == state, order) for order, state in enumerate(STATES))),
            "last_modified": c.last_modified_at,
            "submitted": c.submitted_at,
            "due": case((c.released_at.is_(None), c.due_at)),
        }[sort]
        return [value.is_(None), value.desc() if descending else value, *by_name]

    def rows(self):
        """The SELECT of the rows `ProgressRow` is made of (`_row`)."""
        return db.select(self.table)


def _row(r, badges: dict[int, BadgeFacts]) -> ProgressRow:
    return ProgressRow(
        user_id=r.user_id, name=r.name, email=r.email, state=r.state, attempt_number=r.number,
        last_modified_at=r.last_modified_at, submitted_at=r.submitted_at, sub=r.sub, due_at=r.due_at,
        released_at=r.released_at, score_given=r.score_given, score_maximum=r.score_maximum,
        flags=tuple(flag for flag in FLAGS if getattr(r, flag)),
        badge=badges.get(r.attempt_id) if r.attempt_id is not None else None,
    )


def _with_badges(rows) -> list[ProgressRow]:
    """ProgressRows of some rows, with the badges of those released as *Earned* (one lookup, none when none)."""
    earned = [r.attempt_id for r in rows if r.state == EARNED and r.released_at is not None]
    badges = _badge_facts(earned) if earned else {}
    return [_row(r, badges) for r in rows]


def _check_view(status: str | None, sort: str) -> None:
    if status is not None and status not in FILTERS:
        raise ValueError(f"unknown progress state {status!r}")
    if sort not in SORTS:
        raise ValueError(f"unknown sort {sort!r}")


@dataclass(frozen=True)
class ProgressPage:
    """One page of the table, and the counts of the whole course (every state and flag, zeros too)."""

    rows: list[ProgressRow]
    counts: dict[str, int]
    total: int  # every educator of the course for this activity
    matching: int  # those in the state or with the flag asked for
    page: int  # 1-based, within 1..pages
    pages: int
    first: int  # the index of the page's first row among the matching


def _counting(columns: _Columns):
    """The SELECT of how many educators are in each state, then carry each flag (`n_<key>`), and how many in all
    (`n_total`): one row."""
    conditions = {state: columns.state == state for state in STATES} | columns.flags
    return db.select(
        func.count().label("n_total"),
        *(func.coalesce(func.sum(case((condition, 1), else_=0)), 0).label(f"n_{key}")
          for key, condition in conditions.items()),
    ).select_from(columns.table)


def _counts_of(counted) -> tuple[dict[str, int], int]:
    """The counts of a row carrying `_counting`'s columns (every key present), and the total."""
    return {key: getattr(counted, f"n_{key}") for key in FILTERS}, counted.n_total


def _page_rows(columns: _Columns, status: str | None, sort: str, descending: bool, page_size: int, first: int):
    """The rows of one page, each carrying the course's counts (`_counting`): one query, the course's rows built
    once for both."""
    counted = _counting(columns).subquery("counts")
    query = (db.select(columns.table, counted).join_from(columns.table, counted, true())
             .order_by(*columns.order_by(sort, descending)).limit(page_size).offset(first))
    if status is not None:
        query = query.where(columns.condition(status))
    return db.session.execute(query).all()


def progress_page(context: Context, resource_link: ResourceLink, *, status: str | None = None, sort: str = "name",
                  descending: bool = False, page: int = 1, page_size: int = 250, now: datetime | None = None
                  ) -> ProgressPage:
    """One page of educators, in one state or with one flag (or all), sorted; a page beyond the last is the last.

    The page's rows with the counts (LIMIT/OFFSET), then the badges of that page: three queries whatever the
    course's size (the counts alone, and the last page, once more for a page beyond the last), the filtering,
    sorting and counting done by the database; only the page's rows reach Python."""
    _check_view(status, sort)
    columns = _Columns(context, resource_link, now or utcnow())
    page = min(max(page, 1), _MAX_PAGE)
    rows = _page_rows(columns, status, sort, descending, page_size, (page - 1) * page_size)
    counts, total = _counts_of(rows[0] if rows else db.session.execute(_counting(columns)).one())
    matching = total if status is None else counts[status]
    pages = max(1, -(-matching // page_size))
    if not rows and matching:  # beyond the last page: the last
        page = pages
        rows = _page_rows(columns, status, sort, descending, page_size, (page - 1) * page_size)
    return ProgressPage(rows=_with_badges(rows), counts=counts, total=total, matching=matching, page=page,
                        pages=pages, first=(page - 1) * page_size)


def progress_rows(context: Context, resource_link: ResourceLink, *, status: str | None = None, sort: str = "name",
                  descending: bool = False, now: datetime | None = None) -> Iterator[ProgressRow]:
    """Every row of the table in its order, read from the database `_CSV_CHUNK` at a time (a server-side cursor
    where the database has them): for the CSV, streamed while it is read.

    The query is built now, the rows read as they are asked for: the response streams after the request's
    commit, when the course's objects are no longer loaded."""
    _check_view(status, sort)
    columns = _Columns(context, resource_link, now or utcnow())
    query = columns.rows().order_by(*columns.order_by(sort, descending))
    if status is not None:
        query = query.where(columns.condition(status))
    return _read_in_chunks(query)


def _read_in_chunks(query) -> Iterator[ProgressRow]:
    result = db.session.execute(query.execution_options(yield_per=_CSV_CHUNK))
    for chunk in result.partitions():
        yield from _with_badges(chunk)


# -- CSV -----------------------------------------------------------------------------------------------
CSV_HEADER = ("Name", "Email", "State", "Attempt", "Last modified", "Submitted", "Badge issued", "Revoked",
              "Time zone")
AWAITING_EMAIL_TEXT = "awaiting the educator's email"


def _badge_issued(badge: BadgeFacts | None, time_zone: str) -> str:
    if badge is None:
        return ""
    return AWAITING_EMAIL_TEXT if badge.is_awaiting_email else local_iso(badge.issued_at, time_zone)


def csv_cells(rows, time_zone: str) -> Iterator[tuple]:
    """The rows' CSV cells, one row at a time: name, email, state label, attempt, last modified, submitted, badge
    issued and revoked (ISO 8601 with the offset of `time_zone`), and the zone named in the last column (the rule
    of core/dates). The cells go through the shared guard (`core.spreadsheets.csv_lines`) when written."""
    for r in rows:
        yield (r.name, r.email, r.state_label, r.attempt_number or "", local_iso(r.last_modified_at, time_zone),
               local_iso(r.submitted_at, time_zone), _badge_issued(r.badge, time_zone),
               local_iso(r.badge.revoked_at, time_zone) if r.badge else "", time_zone)


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
