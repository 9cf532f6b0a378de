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
