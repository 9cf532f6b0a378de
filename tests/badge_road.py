"""The road to a badge, as people take it: an educator submits, an assessor scores every criterion at the
required level and releases; the release issues the badge. Helpers for the badge tests."""

from __future__ import annotations

from dataclasses import dataclass

from tests.assessment_road import (
    Submitted,
    all_levels,
    assessment_ids,
    launch_assessor,
    open_assessment,
    release,
    score,
    submit_work,
)


@dataclass
class Earned:
    submitted: Submitted  # the educator's browser, still launched
    assessment_id: int
    badge_uuid: str | None  # None when the decision was *Not yet* (no badge)


def badge_row(app, assessment_id: int):
    """The badge of an assessment, detached (or None)."""
    from lti_tool.badges.models import Badge
    from lti_tool.extensions import db

    with app.app_context():
        badge = db.session.scalar(db.select(Badge).where(Badge.assessment_id == assessment_id))
        if badge is not None:
            db.session.expunge(badge)
        return badge


def earn_badge(app, platform, *, person: str = "learner", share_email: bool = True, decision: str = "earned",
               context_id: str = "course-1", resource_link_id: str = "activity-1",
               email_claim: str | None = None) -> Earned:
    """Submit as `person`, score at the required level (or below for "notyet") and release. `email_claim`: what
    the LMS sends as the person's email instead of their address."""
    before = set(assessment_ids(app))
    plan = {} if share_email else {"remove_claims": ("email",)}
    if email_claim is not None:
        plan["claims"] = {"email": email_claim}
    submitted = submit_work(platform, person=person, context_id=context_id, resource_link_id=resource_link_id,
                            **plan)
    (assessment_id,) = set(assessment_ids(app)) - before
    assessor = launch_assessor(platform, context_id=context_id, resource_link_id=resource_link_id)
    page = open_assessment(assessor, assessment_id)
    assert page.status_code == 200, page.text[:500]
    if decision == "earned":
        levels, feedback = all_levels(app, "demonstrated"), None
    else:
        levels = all_levels(app, "developing")
        feedback = {key: "Say more about how your students responded." for key in levels}
    completed = score(assessor, page, levels, feedback)
    assert completed.status_code == 200, completed.text[:500]
    released = release(assessor, assessment_id)
    assert released.status_code == 200, released.text[:500]
    badge = badge_row(app, assessment_id)
    return Earned(submitted, assessment_id, badge.uuid if badge is not None else None)
