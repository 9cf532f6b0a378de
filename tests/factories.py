"""Factories for domain objects: an educator's work brought to a given state through the tool's services."""

from __future__ import annotations

from datetime import timedelta


def bring_work_to(app, sub: str, step: str, at, *, course: str, activity: str,
                  slug: str = "self-assessment-growth") -> None:
    """Bring one educator's work to `step` — new, draft, submitted, inmarking, released, reopened — with the tool's
    services, as the educator pages would (the marking state, which belongs to assessment, is set by hand)."""
    from lti_tool.catalog.services import current_term, get_microcredential
    from lti_tool.extensions import db
    from lti_tool.lti.models import Context, LtiUser, ResourceLink
    from lti_tool.submissions import services
    from lti_tool.submissions.models import Attempt

    with app.app_context():
        user = db.session.scalar(db.select(LtiUser).where(LtiUser.sub == sub))
        link = db.session.scalar(
            db.select(ResourceLink).join(Context)
            .where(Context.context_id == course, ResourceLink.resource_link_id == activity)
        )
        enrollment = services.enroll(user, get_microcredential(slug), current_term(at), link, now=at)
        attempt = services.current_attempt(enrollment)
        if step != "new":
            services.save_draft(attempt, {"overview": f"Overview by {sub}", "reflection": "What I learned",
                                          "collaborated": False}, attempt.version, now=at)
        if step in ("submitted", "inmarking", "released", "reopened"):
            services.add_link_artifact(attempt, "https://example.org/lesson", "Lesson video", now=at)
            services.submit_attempt(attempt, attempt.version, now=at + timedelta(minutes=5))
        if step in ("inmarking", "released", "reopened"):
            attempt.marking_status = "inmarking" if step == "inmarking" else "released"
        if step == "reopened":
            db.session.add(Attempt(enrollment=enrollment, number=2, status="reopened",
                                   content_changed_at=at + timedelta(days=1)))
        db.session.commit()


COURSE = "Course-1"


def make_course(services, *, users: int = 2, with_line_item: bool = True, score_maximum=10.0):
    """A course on the platform's services, stored in the tool as a launch would leave it: registration →
    deployment → course (COURSE) → resource link RL-1 (→ its line item) and `users` people; committed."""
    from lti_tool.extensions import db
    from lti_tool.lti.models import Context, Deployment, LineItem, LtiUser, Registration, ResourceLink

    registration = Registration(
        name="Test LMS",
        issuer=services.base_url,
        client_id=services.client_id,
        auth_login_url=f"{services.base_url}/auth",
        auth_token_url=services.token_url,
        key_set_url=f"{services.base_url}/jwks",
    )
    deployment = Deployment(registration=registration, deployment_id="deployment-1")
    context = Context(
        deployment=deployment,
        context_id=COURSE,
        title="Teaching Practice",
        lineitems_url=services.lineitems_url(COURSE),
        memberships_url=services.memberships_url(COURSE),
    )
    link = ResourceLink(
        context=context,
        resource_link_id="RL-1",
        title="Reflective Practice",
        microcredential_slug="reflective-practice",
    )
    people = [LtiUser(registration=registration, sub=f"User-{i}", name=f"Person {i}") for i in range(users)]
    db.session.add_all([registration, deployment, context, link, *people])
    if with_line_item:
        item = services.add_line_item(
            COURSE,
            label="Reflective Practice",
            scoreMaximum=score_maximum,
            resourceLinkId="RL-1",
            tag="microcredential",
        )
        db.session.add(LineItem(resource_link=link, url=item["id"], label=item["label"], score_maximum=score_maximum))
    db.session.commit()
    return link, people


def assess_work(app, sub: str, decision: str, at, *, release_at=None, slug: str = "self-assessment-growth",
                assessors: tuple[str, ...] = ("user-assessor-1", "user-assessor-2")) -> None:
    """Assess one educator's latest submitted attempt with the assessment services, as assessors would: claim,
    score every criterion (all at the required level for "earned"; the first below it, with feedback, for
    "notyet"), complete at `at` — by two assessors when the micro-credential is double-blind — and release at
    `release_at` when given. The attempt's assessment is opened if no receiver of `attempt_submitted` did."""
    from lti_tool.assessment import services
    from lti_tool.assessment.models import Assessment
    from lti_tool.catalog.services import get_microcredential
    from lti_tool.extensions import db
    from lti_tool.lti.models import LtiUser
    from lti_tool.submissions.models import Enrollment

    with app.app_context():
        microcredential = get_microcredential(slug, include_retired=True)
        user = db.session.scalar(db.select(LtiUser).where(LtiUser.sub == sub))
        enrollment = db.session.scalar(db.select(Enrollment).where(
            Enrollment.user_id == user.id, Enrollment.microcredential_id == microcredential.id))
        attempt = enrollment.latest_attempt
        assessment = db.session.scalar(db.select(Assessment).where(Assessment.attempt_id == attempt.id))
        if assessment is None:
            assessment = services.open_assessment(attempt, now=attempt.submitted_at)
        required = microcredential.required_level_key
        lowest = microcredential.levels[0].key
        levels = {c.key: required for c in microcredential.criteria}
        feedback = {}
        if decision == "notyet":
            first = microcredential.criteria[0].key
            levels[first], feedback[first] = lowest, "Say more about the evidence for this criterion."
        needed = 2 if assessment.is_double_blind else 1
        for assessor_sub in assessors[:needed]:
            assessor = db.session.scalar(db.select(LtiUser).where(LtiUser.sub == assessor_sub))
            scoring = services.claim_scoring(assessment, assessor.id, now=at)
            services.complete_scoring(scoring, assessor.id, levels, feedback, scoring.version, now=at)
        if release_at is not None:
            services.release_assessment(assessment, None, now=release_at)
        db.session.commit()


def resubmit_work(app, sub: str, at, *, slug: str = "self-assessment-growth") -> None:
    """After a released *Not yet*: start attempt N+1 (a copy of N), revise its overview and submit it at `at`."""
    from datetime import timedelta

    from lti_tool.assessment import services as assessment_services
    from lti_tool.catalog.services import get_microcredential
    from lti_tool.extensions import db
    from lti_tool.lti.models import LtiUser
    from lti_tool.submissions import services
    from lti_tool.submissions.models import Enrollment

    with app.app_context():
        microcredential = get_microcredential(slug, include_retired=True)
        user = db.session.scalar(db.select(LtiUser).where(LtiUser.sub == sub))
        enrollment = db.session.scalar(db.select(Enrollment).where(
            Enrollment.user_id == user.id, Enrollment.microcredential_id == microcredential.id))
        attempt = assessment_services.start_resubmission(enrollment, now=at)
        services.save_draft(attempt, {"overview": f"Revised overview by {sub}"}, attempt.version, now=at)
        services.submit_attempt(attempt, attempt.version, now=at + timedelta(minutes=5))
        db.session.commit()
