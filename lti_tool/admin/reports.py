"""Reports for organizations: per micro-credential and term, how far educators got, and whom to follow up.

Three queries whatever the number of educators: the enrollments in scope (each with its person, course and
attempt summary), the assessments of that scope, and its badges. Everything else is counted here.

Each enrollment stands in exactly one place, so the figures add up and the chart can stack them:
earned (a released *Earned*) › in assessment (a submitted attempt not released yet) › not yet (the latest
released decision is *Not yet*) › not submitted (enrolled, nothing submitted). "Resubmitted" counts
enrollments that reached attempt 2 or later; "overdue" counts assessments past their due date and not released;
the time to decision runs from submission to release.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from statistics import median

from sqlalchemy import func

from lti_tool.assessment.models import Assessment, Decision
from lti_tool.badges.models import Badge, BadgeStatus
from lti_tool.catalog.models import MicroCredential, Term
from lti_tool.core.dates import local_iso
from lti_tool.core.models import utcnow
from lti_tool.core.spreadsheets import csv_text
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
    decision_seconds: list[float] = field(default_factory=list, repr=False)

    @property
    def not_submitted(self) -> int:
        return self.enrolled - self.earned - self.not_yet - self.in_assessment

    @property
    def decided(self) -> int:
        """How many released decisions the median rests on."""
        return len(self.decision_seconds)

    @property
    def median_days_to_decision(self) -> float | None:
        """Median time from submission to release, in days (None: nothing released yet)."""
        if not self.decision_seconds:
            return None
        return median(self.decision_seconds) / 86400

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


@dataclass
class Report:
    lines: list[ReportLine]
    follow_up: list[FollowUp]
    generated_at: datetime
    badges: list[EarnedBadge] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not self.lines


def _display_name(name, given_name, family_name) -> str:
    return name or " ".join(p for p in (given_name, family_name) if p) or "Unnamed user"


def _standing(assessments: list) -> str:
    """Where one enrollment stands, from its assessments (in attempt order)."""
    if any(a.released_at is not None and a.decision == Decision.EARNED for a in assessments):
        return EARNED
    if any(a.released_at is None for a in assessments):
        return IN_ASSESSMENT
    if any(a.released_at is not None for a in assessments):
        return NOT_YET
    return NOT_SUBMITTED


def build_report(scope: ReportScope, *, now: datetime | None = None) -> Report:
    """The figures per micro-credential and term, and the follow-up list, for one platform or course."""
    now = now or utcnow()
    attempts = (
        db.select(
            Attempt.enrollment_id,
            func.max(Attempt.number).label("latest_number"),
            func.count(Attempt.submitted_at).label("submitted_count"),
        )
        .group_by(Attempt.enrollment_id)
        .subquery()
    )
    enrollments = db.session.execute(
        scope.where(
            db.select(
                Enrollment.id, Enrollment.microcredential_id, Enrollment.term_id,
                MicroCredential.title.label("microcredential_title"), MicroCredential.position.label("mc_position"),
                Term.title.label("term_title"), Term.position.label("term_position"),
                LtiUser.name, LtiUser.given_name, LtiUser.family_name, LtiUser.email,
                Context.title.label("course_title"), Context.label.label("course_label"),
                Context.context_id.label("course_id"),
                attempts.c.latest_number, attempts.c.submitted_count,
            )
            .join(MicroCredential, MicroCredential.id == Enrollment.microcredential_id)
            .join(Term, Term.id == Enrollment.term_id)
            .join(LtiUser, LtiUser.id == Enrollment.user_id)
            .join(ResourceLink, ResourceLink.id == Enrollment.resource_link_id)
            .join(Context, Context.id == ResourceLink.context_id)
            .join(Deployment, Deployment.id == Context.deployment_id)
            .outerjoin(attempts, attempts.c.enrollment_id == Enrollment.id)
        )
    ).all()
    assessed = db.session.execute(
        scope.where(
            db.select(
                Attempt.enrollment_id, Assessment.decision, Assessment.submitted_at, Assessment.released_at,
                Assessment.due_at,
            )
            .select_from(Assessment)
            .join(Attempt, Attempt.id == Assessment.attempt_id)
            .join(Enrollment, Enrollment.id == Attempt.enrollment_id)
            .join(Context, Context.id == Assessment.context_id)
            .join(Deployment, Deployment.id == Context.deployment_id)
            .order_by(Assessment.attempt_number)
        )
    ).all()
    by_enrollment: dict[int, list] = {}
    for row in assessed:
        by_enrollment.setdefault(row.enrollment_id, []).append(row)

    lines: dict[tuple[int, int], ReportLine] = {}
    order: dict[tuple[int, int], tuple] = {}
    follow_up: list[tuple[tuple, FollowUp]] = []
    for e in enrollments:
        key = (e.microcredential_id, e.term_id)
        line = lines.get(key)
        if line is None:
            line = lines[key] = ReportLine(e.microcredential_id, e.microcredential_title, e.term_id, e.term_title)
            order[key] = (e.mc_position, e.microcredential_title, e.term_position, e.term_title)
        mine = by_enrollment.get(e.id, [])
        standing = _standing(mine)
        line.enrolled += 1
        if standing != NOT_SUBMITTED:  # not_submitted is what remains of `enrolled`
            setattr(line, standing, line.count(standing) + 1)
        if (e.submitted_count or 0) > 0 or mine:
            line.submitted += 1
        if (e.latest_number or 0) >= 2:
            line.resubmitted += 1
        for a in mine:
            if a.released_at is not None:
                line.decision_seconds.append((a.released_at - a.submitted_at).total_seconds())
            elif a.due_at < now:
                line.overdue += 1
        if standing != EARNED:
            name = _display_name(e.name, e.given_name, e.family_name)
            follow_up.append((
                (*order[key], name.casefold(), e.email or ""),
                FollowUp(name=name, email=e.email or "", microcredential_title=e.microcredential_title,
                         term_title=e.term_title, course=e.course_title or e.course_label or e.course_id,
                         standing=standing, attempt_number=e.latest_number),
            ))
    return Report(
        lines=[lines[key] for key in sorted(lines, key=order.__getitem__)],
        follow_up=[item for _, item in sorted(follow_up, key=lambda pair: pair[0])],
        generated_at=now,
        badges=_badges(scope, order),
    )


def _badges(scope: ReportScope, order: dict[tuple[int, int], tuple]) -> list[EarnedBadge]:
    """The scope's badges in the report's order (micro-credential and term, then name), in one query."""
    rows = db.session.execute(
        scope.where(
            db.select(
                Enrollment.microcredential_id, Enrollment.term_id,
                MicroCredential.title.label("microcredential_title"), Term.title.label("term_title"),
                LtiUser.name, LtiUser.given_name, LtiUser.family_name, LtiUser.email,
                Context.title.label("course_title"), Context.label.label("course_label"),
                Context.context_id.label("course_id"),
                Badge.status, Badge.issued_at, Badge.revoked_at,
            )
            .select_from(Badge)
            .join(Enrollment, Enrollment.id == Badge.enrollment_id)
            .join(MicroCredential, MicroCredential.id == Enrollment.microcredential_id)
            .join(Term, Term.id == Enrollment.term_id)
            .join(LtiUser, LtiUser.id == Badge.user_id)
            .join(ResourceLink, ResourceLink.id == Enrollment.resource_link_id)
            .join(Context, Context.id == ResourceLink.context_id)
            .join(Deployment, Deployment.id == Context.deployment_id)
        )
    ).all()
    badges = []
    for r in rows:
        name = _display_name(r.name, r.given_name, r.family_name)
        place = order.get((r.microcredential_id, r.term_id)) or (0, r.microcredential_title, 0, r.term_title)
        key = (*place, name.casefold(), r.email or "")
        badges.append((key, EarnedBadge(
            name=name, email=r.email or "", microcredential_title=r.microcredential_title, term_title=r.term_title,
            course=r.course_title or r.course_label or r.course_id, status=r.status, issued_at=r.issued_at,
            revoked_at=r.revoked_at)))
    return [badge for _, badge in sorted(badges, key=lambda pair: pair[0])]


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


def summary_csv(report: Report) -> str:
    """The figures as CSV (cells that a spreadsheet would run as formulas are neutralised)."""
    return csv_text(SUMMARY_HEADER, (
        (line.microcredential_title, line.term_title, line.enrolled, line.submitted, line.in_assessment,
         line.earned, line.not_yet, line.not_submitted, line.resubmitted, line.overdue,
         "" if line.median_days_to_decision is None else f"{line.median_days_to_decision:.2f}", line.decided)
        for line in report.lines
    ))


def follow_up_csv(report: Report) -> str:
    """The educators to follow up, with their contact, as CSV (formula cells neutralised)."""
    return csv_text(FOLLOW_UP_HEADER, (
        (f.name, f.email, f.microcredential_title, f.term_title, f.course, f.standing_label, f.attempt_number or "")
        for f in report.follow_up
    ))


def badges_csv(report: Report, time_zone: str) -> str:
    """The educators' badges with when each was issued and revoked (ISO 8601 with the offset of `time_zone`, named
    in the last column: the rule of core/dates), as CSV (formulas neutralised)."""
    return csv_text(BADGES_HEADER, (
        (b.name, b.email, b.microcredential_title, b.term_title, b.course,
         AWAITING_EMAIL_TEXT if b.is_awaiting_email else local_iso(b.issued_at, time_zone),
         local_iso(b.revoked_at, time_zone), time_zone)
        for b in report.badges
    ))
