"""Who may assess what: course assessors, course instructors (where the micro-credential allows it) and
organization assessors granted by an admin for every course of their platform.

A person's scope is read from their memberships (every course where a launch or the roster gave them an
assessor role) and their grants, so that one queue shows everything they may assess, from any course.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, false, or_

from lti_tool.assessment.models import Assessment, AssessorGrant
from lti_tool.catalog.models import MicroCredential
from lti_tool.core.models import utcnow
from lti_tool.extensions import db
from lti_tool.lti import roles
from lti_tool.lti.models import Context, Deployment, LtiUser, Membership, Registration


@dataclass(frozen=True)
class AssessorScope:
    """What one person may assess, on one platform."""

    user_id: int
    registration_id: int
    assessor_context_ids: frozenset[int] = field(default_factory=frozenset)
    instructor_context_ids: frozenset[int] = field(default_factory=frozenset)
    instructor_microcredential_ids: frozenset[int] = field(default_factory=frozenset)
    granted_microcredential_ids: frozenset[int] = field(default_factory=frozenset)
    whole_platform: bool = False  # an admin: sees (never scores) everything on their platform

    @property
    def is_empty(self) -> bool:
        return not (self.whole_platform or self.assessor_context_ids or self.granted_microcredential_ids
                    or (self.instructor_context_ids and self.instructor_microcredential_ids))

    def condition(self):
        """SQL: the assessments in this scope (never the person's own work)."""
        if self.whole_platform:
            return Assessment.registration_id == self.registration_id
        # A course is reached through one registration; the person may come through any of their issuer's.
        parts = []
        if self.assessor_context_ids:
            parts.append(Assessment.context_id.in_(self.assessor_context_ids))
        if self.instructor_context_ids and self.instructor_microcredential_ids:
            parts.append(and_(Assessment.context_id.in_(self.instructor_context_ids),
                              Assessment.microcredential_id.in_(self.instructor_microcredential_ids)))
        if self.granted_microcredential_ids:
            parts.append(and_(Assessment.registration_id == self.registration_id,
                              Assessment.microcredential_id.in_(self.granted_microcredential_ids)))
        if not parts:
            return false()
        return and_(Assessment.educator_id != self.user_id, or_(*parts))

    def covers(self, assessment: Assessment) -> bool:
        """The same rule as `condition`, for one assessment already loaded."""
        if self.whole_platform:
            return assessment.registration_id == self.registration_id
        if assessment.educator_id == self.user_id:
            return False
        return (assessment.context_id in self.assessor_context_ids
                or (assessment.context_id in self.instructor_context_ids
                    and assessment.microcredential_id in self.instructor_microcredential_ids)
                or (assessment.registration_id == self.registration_id
                    and assessment.microcredential_id in self.granted_microcredential_ids))


def scope_for(user: LtiUser) -> AssessorScope:
    """The person's scope from their active memberships and grants (three small queries)."""
    memberships = db.session.execute(
        db.select(Membership.context_id, Membership.roles)
        .join(Context, Context.id == Membership.context_id)
        .join(Deployment, Deployment.id == Context.deployment_id)
        .join(Registration, Registration.id == Deployment.registration_id)
        .where(Membership.user_id == user.id, Membership.status == "Active", Registration.issuer == user.issuer)
    ).all()
    assessor, instructor = set(), set()
    for context_id, role_list in memberships:
        duties = roles.duties_for_roles(role_list)
        if roles.ASSESSOR in duties:
            assessor.add(context_id)
        if roles.INSTRUCTOR in duties:
            instructor.add(context_id)
    instructor_mcs = set()
    if instructor:
        instructor_mcs = set(db.session.scalars(
            db.select(MicroCredential.id).where(MicroCredential.instructors_may_assess.is_(True))))
    return AssessorScope(
        user_id=user.id,
        registration_id=user.registration_id,
        assessor_context_ids=frozenset(assessor),
        instructor_context_ids=frozenset(instructor),
        instructor_microcredential_ids=frozenset(instructor_mcs),
        granted_microcredential_ids=frozenset(granted_microcredential_ids(user)),
    )


def granted_microcredential_ids(user: LtiUser) -> list[int]:
    return list(db.session.scalars(
        db.select(AssessorGrant.microcredential_id).where(
            AssessorGrant.user_id == user.id, AssessorGrant.is_active.is_(True),
            AssessorGrant.registration_id == user.registration_id)
    ))


def organization_assessor_duties(user: LtiUser, context, duties) -> list[str]:
    """A launch hook: an organization assessor holds the assessor duty in any course of their platform."""
    if roles.ASSESSOR in duties or user is None or user.id is None:
        return []
    return [roles.ASSESSOR] if granted_microcredential_ids(user) else []


def is_active_assessor(user_id: int, assessment: Assessment, now: datetime | None = None) -> bool:
    """May this person still assess it, and did they use the tool lately (ASSESSOR_ACTIVE_DAYS)?"""
    user = db.session.get(LtiUser, user_id)
    if user is None:
        return False
    days = current_app.config["ASSESSOR_ACTIVE_DAYS"]
    recent = user.last_launch_at is not None and user.last_launch_at >= (now or utcnow()) - timedelta(days=days)
    return recent and scope_for(user).covers(assessment)


def admin_scope(user: LtiUser) -> AssessorScope:
    """An admin's view of assessment on their platform: the queue, release, reassignment and the audit log."""
    return AssessorScope(user_id=user.id, registration_id=user.registration_id, whole_platform=True)


def assessor_candidates(assessment: Assessment) -> list[LtiUser]:
    """People who may assess this submission (for an admin's reassignment): the course's assessors and the
    micro-credential's organization assessors, never its educator."""
    course_people = db.session.scalars(
        db.select(LtiUser).join(Membership, Membership.user_id == LtiUser.id)
        .where(Membership.context_id == assessment.context_id, Membership.status == "Active")
    ).all()
    candidates = {u.id: u for u in course_people
                  if scope_for(u).covers(assessment)}
    granted = db.session.scalars(
        db.select(LtiUser).join(AssessorGrant, AssessorGrant.user_id == LtiUser.id)
        .where(AssessorGrant.microcredential_id == assessment.microcredential_id,
               AssessorGrant.registration_id == assessment.registration_id, AssessorGrant.is_active.is_(True))
    ).all()
    candidates.update({u.id: u for u in granted})
    candidates.pop(assessment.educator_id, None)
    return sorted(candidates.values(), key=lambda u: u.display_name.lower())


def people_of_platform(registration_id: int, limit: int = 1000) -> list[LtiUser]:
    """People of a platform who have launched the tool, by name (an admin picks organization assessors here)."""
    return list(db.session.scalars(db.select(LtiUser).where(LtiUser.registration_id == registration_id)
                                   .order_by(LtiUser.name, LtiUser.id).limit(limit)))
