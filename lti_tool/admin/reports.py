"""Reports for organizations: per micro-credential and term, how far educators got, and whom to follow up.

Counted in SQL, so a page costs the same for 500 educators as for 20,000: one query gives every figure of
every line (each enrollment's attempts and assessments summed per enrollment, then per line), one the median
times to decision; the follow-up list and the badges are read one page at a time, and their CSV exports are
streamed row by row from a chunked query.

Each enrollment stands in exactly one place, so the figures add up and the chart can stack them:
earned (a released *Earned*) › in assessment (a submitted attempt not released yet) › not yet (the latest
released decision is *Not yet*) › not submitted (enrolled, nothing submitted). "Resubmitted" counts
enrollments that reached attempt 2 or later; "overdue" counts assessments past their due date and not released;
the time to decision runs from submission to release.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, func, or_

from lti_tool.assessment.models import Assessment, Decision
from lti_tool.badges.models import Badge, BadgeStatus
from lti_tool.catalog.models import MicroCredential, Term
from lti_tool.core.dates import local_iso
from lti_tool.core.db import text_order
from lti_tool.core.models import utcnow
from lti_tool.extensions import db
from lti_tool.lti.models import Context, Deployment, LtiUser, ResourceLink
from lti_tool.submissions.models import Attempt, Enrollment
from lti_tool.submissions.progress import AWAITING_EMAIL_TEXT

EARNED = "earned"
IN_ASSESSMENT = "in_assessment"
NOT_YET = "not_yet"
NOT_SUBMITTED = "not_submitted"
STANDINGS = (EARNED, NOT_YET, IN_ASSESSMENT, NOT_SUBMITTED)  # the chart's stacking order
STANDING_LABELS = {
    EARNED: "Earned",
    NOT_YET: "Not yet",
    IN_ASSESSMENT: "In assessment",
    NOT_SUBMITTED: "Not submitted",
}
CSV_CHUNK = 500  # rows fetched at a time while an export streams


@dataclass(frozen=True)
class ReportScope:
    """Whose data a report covers: one platform (an admin), or one course of it (an instructor)."""

    registration_id: int
    context_id: int | None = None
    term_id: int | None = None

    def where(self, statement):
        statement = statement.where(Deployment.registration_id == self.registration_id)
        if self.context_id is not None:
            statement = statement.where(Context.id == self.context_id)
        if self.term_id is not None:
            statement = statement.where(Enrollment.term_id == self.term_id)
        return statement

    def enrollments(self, statement):
        """`statement` (which reads Enrollment) narrowed to the scope's enrollments."""
        return self.where(
            statement.join(ResourceLink, ResourceLink.id == Enrollment.resource_link_id)
            .join(Context, Context.id == ResourceLink.context_id)
            .join(Deployment, Deployment.id == Context.deployment_id)
        )


@dataclass
class ReportLine:
    """One micro-credential in one term."""

    microcredential_id: int
    microcredential_title: str
    term_id: int
    term_title: str
    enrolled: int = 0
    submitted: int = 0
    earned: int = 0
    not_yet: int = 0
    in_assessment: int = 0
    resubmitted: int = 0
    overdue: int = 0
    decided: int = 0  # how many released decisions the median rests on
    median_seconds: float | None = None

    @property
    def not_submitted(self) -> int:
        return self.enrolled - self.earned - self.not_yet - self.in_assessment

    @property
    def median_days_to_decision(self) -> float | None:
        """Median time from submission to release, in days (None: nothing released yet)."""
        return None if self.median_seconds is None else self.median_seconds / 86400

    def count(self, standing: str) -> int:
        return getattr(self, standing)


@dataclass(frozen=True)
class FollowUp:
    """An educator who has not earned the micro-credential yet, with how to reach them."""

    name: str
    email: str
    microcredential_title: str
    term_title: str
    course: str
    standing: str
    attempt_number: int | None

    @property
    def standing_label(self) -> str:
        return STANDING_LABELS[self.standing]


@dataclass(frozen=True)
class EarnedBadge:
    """An educator's badge: when it was issued (None: it waits for the educator to confirm an email), whether it
    was revoked."""

    name: str
    email: str
    microcredential_title: str
    term_title: str
    course: str
    status: str
    issued_at: datetime | None
    revoked_at: datetime | None

    @property
    def is_awaiting_email(self) -> bool:
        return self.status == BadgeStatus.AWAITING_EMAIL


@dataclass(frozen=True)
class Page:
    """One page of a long list: its rows, how many there are in all, which page of how many."""

    rows: list
    total: int
    number: int
    pages: int
    size: int

    @property
    def first(self) -> int:
        """The position (from 1) of the page's first row."""
        return (self.number - 1) * self.size + 1


@dataclass
class Report:
    lines: list[ReportLine]
    follow_up: Page
    badges: Page
    generated_at: datetime

    @property
    def is_empty(self) -> bool:
        return not self.lines


def _display_name(name, given_name, family_name) -> str:
    return name or " ".join(p for p in (given_name, family_name) if p) or "Unnamed user"


def _display_name_sql():
    """`_display_name` in SQL, to sort by."""
    full = func.trim(func.coalesce(LtiUser.given_name, "") + " " + func.coalesce(LtiUser.family_name, ""))
    return func.coalesce(func.nullif(LtiUser.name, ""), func.nullif(full, ""), "Unnamed user")


def _seconds_between(later, earlier):
    """SQL: the seconds from `earlier` to `later` (SQLite keeps times as text: through julianday)."""
    if db.session.get_bind().dialect.name == "sqlite":
        return (func.julianday(later) - func.julianday(earlier)) * 86400.0
    return func.extract("epoch", later - earlier)


def _per_enrollment(scope: ReportScope, now: datetime):
    """Each enrollment of the scope with its attempts and assessments summed up: one row per enrollment (an
    enrollment without attempts too)."""
    released = Assessment.released_at.is_not(None)
    unreleased = and_(Assessment.id.is_not(None), Assessment.released_at.is_(None))
    return scope.enrollments(
        db.select(
            Enrollment.id.label("enrollment_id"), Enrollment.microcredential_id, Enrollment.term_id,
            func.max(Attempt.number).label("latest_number"),
            func.count(Attempt.submitted_at).label("submitted"),
            func.count(Assessment.id).label("assessed"),
            func.max(case((and_(released, Assessment.decision == Decision.EARNED), 1), else_=0)).label("has_earned"),
            func.max(case((unreleased, 1), else_=0)).label("has_open"),
            func.count(Assessment.released_at).label("released"),
            func.sum(case((and_(unreleased, Assessment.due_at < now), 1), else_=0)).label("overdue"),
        )
        .select_from(Enrollment)
        .outerjoin(Attempt, Attempt.enrollment_id == Enrollment.id)
        .outerjoin(Assessment, Assessment.attempt_id == Attempt.id)
    ).group_by(Enrollment.id, Enrollment.microcredential_id, Enrollment.term_id).subquery("per_enrollment")


def _standing(summary):
    """SQL: where one enrollment stands, from its summary (`_per_enrollment`)."""
    return case(
        (summary.c.has_earned == 1, EARNED),
        (summary.c.has_open == 1, IN_ASSESSMENT),
        (summary.c.released > 0, NOT_YET),
        else_=NOT_SUBMITTED,
    )


def _line_order():
    return (MicroCredential.position, MicroCredential.title, Term.position, Term.title)


def report_lines(scope: ReportScope, *, now: datetime | None = None) -> list[ReportLine]:
    """The figures per micro-credential and term, in two queries whatever the number of educators."""
    now = now or utcnow()
    summary = _per_enrollment(scope, now)
    standing = _standing(summary)

    def how_many(condition):
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    rows = db.session.execute(
        db.select(
            summary.c.microcredential_id, summary.c.term_id, MicroCredential.title.label("mc_title"),
            Term.title.label("term_title"),
            func.count().label("enrolled"),
            how_many(or_(summary.c.submitted > 0, summary.c.assessed > 0)).label("submitted"),
            how_many(standing == EARNED).label("earned"),
            how_many(standing == NOT_YET).label("not_yet"),
            how_many(standing == IN_ASSESSMENT).label("in_assessment"),
            how_many(summary.c.latest_number >= 2).label("resubmitted"),
            func.coalesce(func.sum(summary.c.overdue), 0).label("overdue"),
            func.coalesce(func.sum(summary.c.released), 0).label("decided"),
        )
        .select_from(summary)
        .join(MicroCredential, MicroCredential.id == summary.c.microcredential_id)
        .join(Term, Term.id == summary.c.term_id)
        .group_by(summary.c.microcredential_id, summary.c.term_id, *_line_order())
        .order_by(*_line_order())
    ).all()
    medians = _median_seconds(scope)
    return [
        ReportLine(r.microcredential_id, r.mc_title, r.term_id, r.term_title, enrolled=r.enrolled,
                   submitted=r.submitted, earned=r.earned, not_yet=r.not_yet, in_assessment=r.in_assessment,
                   resubmitted=r.resubmitted, overdue=r.overdue, decided=r.decided,
                   median_seconds=medians.get((r.microcredential_id, r.term_id)))
        for r in rows
    ]


def _median_seconds(scope: ReportScope) -> dict[tuple[int, int], float]:
    """The median seconds from submission to release per micro-credential and term: the middle row (the mean of
    the two middle rows for an even count) of the released decisions in order, by window functions that
    PostgreSQL and SQLite both have."""
    seconds = _seconds_between(Assessment.released_at, Assessment.submitted_at)
    line = (Enrollment.microcredential_id, Enrollment.term_id)
    ranked = scope.enrollments(
        db.select(
            *line, seconds.label("seconds"),
            func.row_number().over(partition_by=line, order_by=seconds).label("position"),
            func.count().over(partition_by=line).label("decided"),
        )
        .select_from(Assessment)
        .join(Attempt, Attempt.id == Assessment.attempt_id)
        .join(Enrollment, Enrollment.id == Attempt.enrollment_id)
        .where(Assessment.released_at.is_not(None))
    ).subquery("ranked")
    middle = ranked.c.position.between((ranked.c.decided + 1) // 2, (ranked.c.decided + 2) // 2)
    rows = db.session.execute(
        db.select(ranked.c.microcredential_id, ranked.c.term_id, func.avg(ranked.c.seconds))
        .where(middle).group_by(ranked.c.microcredential_id, ranked.c.term_id)
    ).all()
    return {(mc, term): float(value) for mc, term, value in rows}


def build_report(scope: ReportScope, *, page_size: int, follow_up_page: int = 1, badges_page: int = 1,
                 now: datetime | None = None) -> Report:
    """The figures, one page of the follow-up list and one of the badges, for one platform or course."""
    now = now or utcnow()
    lines = report_lines(scope, now=now)
    not_earned = sum(line.enrolled - line.earned for line in lines)  # the follow-up list's length
    return Report(
        lines=lines,
        follow_up=_page(follow_up_query(scope, now), not_earned, follow_up_page, page_size, _follow_up),
        badges=_page(badges_query(scope), _badge_count(scope), badges_page, page_size, _badge),
        generated_at=now,
    )


def _page(query, total: int, number: int, size: int, make) -> Page:
    """Page `number` of `query`, read with LIMIT and OFFSET (a page beyond the end is the last one)."""
    pages = max(1, -(-total // size))
    number = min(max(number, 1), pages)
    rows = db.session.execute(query.offset((number - 1) * size).limit(size)).all() if total else []
    return Page(rows=[make(r) for r in rows], total=total, number=number, pages=pages, size=size)


def _person_columns():
    return (
        MicroCredential.title.label("microcredential_title"), Term.title.label("term_title"),
        LtiUser.name, LtiUser.given_name, LtiUser.family_name, LtiUser.email,
        Context.title.label("course_title"), Context.label.label("course_label"),
        Context.context_id.label("course_id"),
    )


def _by_line_then_name(key):
    """The report's order: micro-credential and term as the figures, then name and email; `key` breaks ties."""
    return (*_line_order(), text_order(_display_name_sql()), text_order(func.coalesce(LtiUser.email, "")), key)


def follow_up_query(scope: ReportScope, now: datetime):
    """The educators who have not earned yet, in the report's order (every row: page it, or stream it)."""
    summary = _per_enrollment(scope, now)
    standing = _standing(summary)
    return scope.enrollments(
        db.select(*_person_columns(), standing.label("standing"), summary.c.latest_number)
        .select_from(Enrollment)
        .join(MicroCredential, MicroCredential.id == Enrollment.microcredential_id)
        .join(Term, Term.id == Enrollment.term_id)
        .join(LtiUser, LtiUser.id == Enrollment.user_id)
        .join(summary, summary.c.enrollment_id == Enrollment.id)
        .where(standing != EARNED)
    ).order_by(*_by_line_then_name(Enrollment.id))


def _follow_up(r) -> FollowUp:
    return FollowUp(name=_display_name(r.name, r.given_name, r.family_name), email=r.email or "",
                    microcredential_title=r.microcredential_title, term_title=r.term_title,
                    course=r.course_title or r.course_label or r.course_id, standing=r.standing,
                    attempt_number=r.latest_number)


def badges_query(scope: ReportScope):
    """The scope's badges in the report's order (every row: page it, or stream it)."""
    return _badges_from(scope, db.select(*_person_columns(), Badge.status, Badge.issued_at, Badge.revoked_at)).join(
        MicroCredential, MicroCredential.id == Enrollment.microcredential_id
    ).join(Term, Term.id == Enrollment.term_id).order_by(*_by_line_then_name(Badge.id))


def _badges_from(scope: ReportScope, statement):
    return scope.enrollments(
        statement.select_from(Badge)
        .join(Enrollment, Enrollment.id == Badge.enrollment_id)
        .join(LtiUser, LtiUser.id == Badge.user_id)
    )


def _badge_count(scope: ReportScope) -> int:
    return db.session.scalar(_badges_from(scope, db.select(func.count(Badge.id))))


def _badge(r) -> EarnedBadge:
    return EarnedBadge(name=_display_name(r.name, r.given_name, r.family_name), email=r.email or "",
                       microcredential_title=r.microcredential_title, term_title=r.term_title,
                       course=r.course_title or r.course_label or r.course_id, status=r.status,
                       issued_at=r.issued_at, revoked_at=r.revoked_at)


def _streamed(query, make) -> Iterator:
    """Every row of `query`, fetched CSV_CHUNK at a time (a server-side cursor on PostgreSQL): flat memory."""
    for row in db.session.execute(query.execution_options(yield_per=CSV_CHUNK)):
        yield make(row)


def terms_in_scope(registration_id: int, context_id: int | None = None) -> list[Term]:
    """The terms that have enrollments in this platform (or course), for the report's filter."""
    scope = ReportScope(registration_id=registration_id, context_id=context_id)
    term_ids = scope.where(
        db.select(Enrollment.term_id)
        .join(ResourceLink, ResourceLink.id == Enrollment.resource_link_id)
        .join(Context, Context.id == ResourceLink.context_id)
        .join(Deployment, Deployment.id == Context.deployment_id)
    ).distinct()
    return list(db.session.scalars(db.select(Term).where(Term.id.in_(term_ids)).order_by(Term.position)))


# -- the chart ---------------------------------------------------------------------------------------------
CHART_WIDTH = 640
CHART_BAR_HEIGHT = 22
CHART_ROW_HEIGHT = 58  # the bar's label sits above it, so a long title never squeezes the bar
CHART_TOP = 8


@dataclass(frozen=True)
class ChartSegment:
    standing: str
    count: int
    x: float
    width: float

    @property
    def label(self) -> str:
        return STANDING_LABELS[self.standing]


@dataclass(frozen=True)
class ChartBar:
    label: str
    y: float
    enrolled: int
    segments: tuple[ChartSegment, ...]


def chart_bars(lines: list[ReportLine]) -> tuple[list[ChartBar], int]:
    """Stacked horizontal bars (earned, not yet, in assessment, not submitted), scaled to the largest line;
    and the chart's height."""
    largest = max((line.enrolled for line in lines), default=0) or 1
    scale = (CHART_WIDTH - 80) / largest  # room on the right for the total
    bars = []
    for index, line in enumerate(lines):
        x = 0.0
        segments = []
        for standing in STANDINGS:
            count = line.count(standing)
            if count:
                width = round(count * scale, 2)
                segments.append(ChartSegment(standing, count, round(x, 2), width))
                x += width
        bars.append(ChartBar(label=f"{line.microcredential_title} — {line.term_title}",
                             y=CHART_TOP + index * CHART_ROW_HEIGHT, enrolled=line.enrolled,
                             segments=tuple(segments)))
    return bars, CHART_TOP + max(len(lines), 1) * CHART_ROW_HEIGHT


def chart_description(lines: list[ReportLine]) -> str:
    """The chart in words (its SVG `desc`)."""
    parts = []
    for line in lines:
        counts = ", ".join(f"{line.count(s)} {STANDING_LABELS[s].lower()}" for s in STANDINGS)
        parts.append(f"{line.microcredential_title}, {line.term_title}: {line.enrolled} enrolled — {counts}.")
    return " ".join(parts) or "No enrollments yet."


# -- CSV ---------------------------------------------------------------------------------------------------
SUMMARY_HEADER = ("Micro-credential", "Term", "Enrolled", "Submitted", "In assessment", "Earned", "Not yet",
                  "Not submitted", "Resubmitted", "Overdue assessments", "Median days to decision",
                  "Decisions released")
FOLLOW_UP_HEADER = ("Name", "Email", "Micro-credential", "Term", "Course", "Where they stand", "Attempt")
BADGES_HEADER = ("Name", "Email", "Micro-credential", "Term", "Course", "Badge issued", "Revoked", "Time zone")


def summary_rows(lines: list[ReportLine]) -> Iterator[tuple]:
    """The figures' CSV rows."""
    for line in lines:
        yield (line.microcredential_title, line.term_title, line.enrolled, line.submitted, line.in_assessment,
               line.earned, line.not_yet, line.not_submitted, line.resubmitted, line.overdue,
               "" if line.median_days_to_decision is None else f"{line.median_days_to_decision:.2f}", line.decided)


def follow_up_rows(scope: ReportScope, *, now: datetime | None = None) -> Iterator[tuple]:
    """The educators to follow up, with their contact, as CSV rows read as they stream."""
    for f in _streamed(follow_up_query(scope, now or utcnow()), _follow_up):
        yield (f.name, f.email, f.microcredential_title, f.term_title, f.course, f.standing_label,
               f.attempt_number or "")


def badge_rows(scope: ReportScope, time_zone: str) -> Iterator[tuple]:
    """The educators' badges with when each was issued and revoked (ISO 8601 with the offset of `time_zone`, named
    in the last column: the rule of core/dates), as CSV rows read as they stream."""
    for b in _streamed(badges_query(scope), _badge):
        yield (b.name, b.email, b.microcredential_title, b.term_title, b.course,
               AWAITING_EMAIL_TEXT if b.is_awaiting_email else local_iso(b.issued_at, time_zone),
               local_iso(b.revoked_at, time_zone), time_zone)
