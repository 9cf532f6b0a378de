"""Reading badges for the people who manage them: the admins' list (filtered, searched, paged in SQL), one badge of
the admin's platform with its audit log, and the badge facts of the instructor's progress view.

A platform sees only its own people's badges: every query here is scoped by the earner's registration.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask
from sqlalchemy import func, or_
from sqlalchemy.orm import joinedload

from lti_tool.assessment.models import Assessment
from lti_tool.badges.models import Badge, BadgeEvent, BadgeStatus
from lti_tool.catalog.models import MicroCredential
from lti_tool.core.ids import parse_id
from lti_tool.extensions import db
from lti_tool.lti.models import LtiUser
from lti_tool.submissions.progress import BadgeFacts, register_badge_reader

PAGE_SIZE = 50
STATUS_LABELS = {
    BadgeStatus.ISSUED.value: "Issued",
    BadgeStatus.REVOKED.value: "Revoked",
    BadgeStatus.AWAITING_EMAIL.value: "Awaiting email",
}
SEARCH_MAX_LENGTH = 200


@dataclass(frozen=True)
class BadgeFilter:
    """What the admin asked for, already checked against allow-lists (see `from_args`)."""

    status: str | None = None
    microcredential_id: int | None = None
    search: str = ""
    page: int = 1

    @classmethod
    def from_args(cls, args) -> BadgeFilter:
        status = args.get("status")
        microcredential = args.get("microcredential") or ""
        return cls(
            status=status if status in STATUS_LABELS else None,
            microcredential_id=parse_id(microcredential),
            search=(args.get("q") or "").strip()[:SEARCH_MAX_LENGTH],
            page=args.get("page", 1, type=int) or 1,
        )

    def args(self, **changes) -> dict:
        """The query string of this filter (for links to other pages), empty values left out."""
        values = {"status": self.status, "microcredential": self.microcredential_id, "q": self.search or None,
                  "page": self.page if self.page > 1 else None} | changes
        return {key: value for key, value in values.items() if value is not None}


@dataclass(frozen=True)
class BadgePage:
    badges: list[Badge]
    total: int  # badges matching the filter, on every page
    page: int
    pages: int
    counts: dict[str, int]  # badges of the platform by status, whatever the filter


def _of_platform(registration_id: int):
    return db.select(Badge).join(LtiUser, LtiUser.id == Badge.user_id).where(
        LtiUser.registration_id == registration_id)


def _matching(registration_id: int, badge_filter: BadgeFilter):
    query = _of_platform(registration_id)
    if badge_filter.status:
        query = query.where(Badge.status == badge_filter.status)
    if badge_filter.microcredential_id:
        query = query.where(Badge.microcredential_id == badge_filter.microcredential_id)
    if badge_filter.search:
        needle = badge_filter.search.lower()
        query = query.where(or_(*(
            func.lower(column).contains(needle, autoescape=True)
            for column in (LtiUser.name, LtiUser.given_name, LtiUser.family_name, LtiUser.email,
                           Badge.earner_name, Badge.recipient_email)
        )))
    return query


def badge_page(registration_id: int, badge_filter: BadgeFilter, *, page_size: int | None = None) -> BadgePage:
    """One page of the platform's badges, newest first, with the count of all that match (counted in SQL)."""
    page_size = page_size or PAGE_SIZE
    query = _matching(registration_id, badge_filter)
    total = db.session.scalar(db.select(func.count()).select_from(query.order_by(None).subquery()))
    pages = max(1, -(-total // page_size))
    page = min(max(badge_filter.page, 1), pages)
    badges = db.session.scalars(
        query.options(joinedload(Badge.user), joinedload(Badge.microcredential).load_only(
            MicroCredential.title, MicroCredential.slug))
        .order_by(func.coalesce(Badge.issued_at, Badge.earned_at).desc(), Badge.id.desc())
        .offset((page - 1) * page_size).limit(page_size)
    ).all()
    return BadgePage(badges=list(badges), total=total, page=page, pages=pages, counts=status_counts(registration_id))


def status_counts(registration_id: int) -> dict[str, int]:
    """The platform's badges by status (every status present, zeros too)."""
    counts = dict.fromkeys(STATUS_LABELS, 0)
    rows = db.session.execute(
        db.select(Badge.status, func.count(Badge.id)).join(LtiUser, LtiUser.id == Badge.user_id)
        .where(LtiUser.registration_id == registration_id).group_by(Badge.status))
    counts.update({status: count for status, count in rows})
    return counts


def microcredentials_with_badges(registration_id: int) -> list[MicroCredential]:
    """The micro-credentials the platform's people earned badges of (the filter's choices)."""
    ids = _of_platform(registration_id).with_only_columns(Badge.microcredential_id).distinct()
    return list(db.session.scalars(
        db.select(MicroCredential).where(MicroCredential.id.in_(ids)).order_by(MicroCredential.title)))


def badge_of_platform(registration_id: int, badge_uuid: str) -> Badge | None:
    """The badge with this public id when its earner is a person of this platform; None otherwise (another
    platform's badge does not exist for this admin)."""
    if not badge_uuid or len(badge_uuid) > 36:
        return None
    return db.session.scalar(_of_platform(registration_id).where(Badge.uuid == badge_uuid))


def events_of(badge: Badge) -> list[BadgeEvent]:
    """The badge's audit log, oldest first, with who acted."""
    return list(db.session.scalars(
        db.select(BadgeEvent).options(joinedload(BadgeEvent.actor))
        .where(BadgeEvent.badge_id == badge.id).order_by(BadgeEvent.at, BadgeEvent.id)))


# -- the instructor's progress view ---------------------------------------------------------------------------
def read_badge_facts(attempt_ids) -> dict[int, BadgeFacts]:
    """The badge of each listed attempt that earned one, in one query (`attempt_ids`: ids or a SELECT of them)."""
    rows = db.session.execute(
        db.select(Assessment.attempt_id, Badge.status, Badge.issued_at, Badge.revoked_at)
        .join(Assessment, Assessment.id == Badge.assessment_id)
        .where(Assessment.attempt_id.in_(attempt_ids)))
    return {row.attempt_id: BadgeFacts(status=row.status, issued_at=row.issued_at, revoked_at=row.revoked_at)
            for row in rows}


def init_app(app: Flask) -> None:
    """Give the progress view its badge facts (`submissions` cannot import `badges`: it comes first)."""
    register_badge_reader(app, read_badge_facts)


def issued_count(issuer_id: int) -> int:
    """How many badges of this issuer are valid now (issued, not revoked)."""
    return db.session.scalar(db.select(func.count(Badge.id)).where(
        Badge.issuer_profile_id == issuer_id, Badge.status == BadgeStatus.ISSUED.value)) or 0


def has_issued(issuer_id: int, microcredential_id: int) -> bool:
    """Whether this issuer ever issued a badge of this micro-credential (its BadgeClass stays served)."""
    return db.session.scalar(db.select(Badge.id).where(
        Badge.issuer_profile_id == issuer_id, Badge.microcredential_id == microcredential_id).limit(1)) is not None
