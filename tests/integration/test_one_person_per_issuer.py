"""One person per issuer: a platform's `sub` names one person for the whole issuer (LTI 1.3 Core §5.3.6).

A Moodle site may register the tool twice (two tool types, so two client ids) under its one issuer: the same
educator launching through both is one person with one enrollment and one attempt. The same `sub` from another
issuer is someone else. Through real HTTP and the independent platform.
"""

from __future__ import annotations

import re
from contextlib import contextmanager

import pytest

from tests.platform.browser import forms_in
from tests.platform.fixtures import register_platform

pytestmark = pytest.mark.usefixtures("running_term")  # the sample term runs today, whatever the date

SLUG = "self-assessment-growth"
BOUND = {"microcredential": SLUG}
SECOND_CLIENT_ID = "tool-client-second-type"
SECOND_DEPLOYMENT_ID = "2"


@pytest.fixture
def second_tool_type(app, platform):
    """The same LMS registers the tool once more: another tool type, with its own client id and deployment."""
    with _through(platform, SECOND_CLIENT_ID, SECOND_DEPLOYMENT_ID):
        register_platform(app, platform, deployment_ids=(SECOND_DEPLOYMENT_ID,), manages_catalog=False)
    return platform


@contextmanager
def _through(platform, client_id: str, deployment_id: str):
    """The platform launches through another of its registrations of the tool (client id and deployment)."""
    before = platform.client_id, platform.deployment_id, platform.services.client_id
    platform.client_id, platform.deployment_id, platform.services.client_id = client_id, deployment_id, client_id
    try:
        yield platform
    finally:
        platform.client_id, platform.deployment_id, platform.services.client_id = before


def _fields(response) -> dict:
    return forms_in(response.text)[0]["fields"]


def _origin(response) -> str:
    return re.match(r"^(https?://[^/]+)", response.url).group(1)


def _submission_page(browser, **plan):
    result = browser.launch(person="learner", custom=BOUND, **plan)
    assert result.status_code == 200, result.text[:500]
    assert "/submission/" in result.url
    return result.response


def _save(browser, page, overview: str, action: str = "save"):
    fields = _fields(page)
    saved = browser.post(_origin(page) + "/submission/", data={
        "ltik": fields["ltik"], "attempt_id": fields["attempt_id"], "version": fields["version"],
        "overview": overview, "reflection": "What changed for my students.", "collaboration": "no",
        "collaborators": "", "action": action})
    assert saved.status_code == 200, saved.text[:500]
    return saved


def _submit(browser, page, overview: str):
    """Complete the attempt (a work example) and submit it, confirming as the educator does."""
    fields = _fields(page)
    linked = browser.post(_origin(page) + "/submission/links", data={
        "ltik": fields["ltik"], "attempt_id": fields["attempt_id"], "artifact_url": "https://example.org/plan.pdf",
        "artifact_title": "My plan"})
    assert linked.status_code == 200, linked.text[:500]
    confirm = _save(browser, linked, overview, action="submit")
    done = browser.submit_form(confirm, action="confirm")
    assert done.status_code == 200, done.text[:500]
    return done


def _scores(app) -> list[tuple[str, int, int]]:
    """(activity progress, registration, person) of every score queued for the LMS."""
    from lti_tool.extensions import db
    from lti_tool.gradebook.models import OutboxMessage

    with app.app_context():
        return [(m.payload["activityProgress"], m.registration_id, m.user_id)
                for m in db.session.scalars(db.select(OutboxMessage).order_by(OutboxMessage.id))]


def _people_and_work(app) -> tuple[list[tuple[str, str, int]], list[int], list[int]]:
    """(issuer, sub, first registration) of every person; the user of each enrollment; each attempt's enrollment."""
    from lti_tool.extensions import db
    from lti_tool.lti.models import LtiUser
    from lti_tool.submissions.models import Attempt, Enrollment

    with app.app_context():
        people = [(u.issuer, u.sub, u.registration_id)
                  for u in db.session.scalars(db.select(LtiUser).order_by(LtiUser.id))]
        enrollments = list(db.session.scalars(db.select(Enrollment.user_id).order_by(Enrollment.id)))
        attempts = list(db.session.scalars(db.select(Attempt.enrollment_id).order_by(Attempt.id)))
        return people, enrollments, attempts


def _registration_ids(app, issuer: str) -> list[int]:
    from lti_tool.extensions import db
    from lti_tool.lti.models import Registration

    with app.app_context():
        return list(db.session.scalars(db.select(Registration.id).where(Registration.issuer == issuer)
                                       .order_by(Registration.id)))


def test_one_educator_through_two_registrations_of_one_issuer_has_one_enrollment(app, browser, catalog,
                                                                                  second_tool_type):
    platform = second_tool_type
    # First seen through the first tool type, in an activity not bound to a micro-credential yet.
    seen = browser.launch(person="learner", context_id="course-1", resource_link_id="activity-0")
    assert seen.status_code == 200, seen.text[:500]

    with _through(platform, SECOND_CLIENT_ID, SECOND_DEPLOYMENT_ID):  # enrolls through the second tool type
        second = _submission_page(browser, context_id="course-1", resource_link_id="activity-7")
        _save(browser, second, "My goal, written through the second tool type.")

    first = _submission_page(browser, context_id="course-1", resource_link_id="activity-1")
    assert _fields(first)["attempt_id"] == _fields(second)["attempt_id"]  # the same attempt
    assert "My goal, written through the second tool type." in first.text
    _submit(browser, first, "Revised and submitted through the first tool type.")

    with _through(platform, SECOND_CLIENT_ID, SECOND_DEPLOYMENT_ID):
        again = _submission_page(browser, context_id="course-1", resource_link_id="activity-7")
        assert "Revised and submitted through the first tool type." in again.text
        assert 'data-status="submitted"' in again.text

    people, enrollments, attempts = _people_and_work(app)
    first_registration, second_registration = _registration_ids(app, platform.issuer)
    assert people == [(platform.issuer, "user-learner-1", first_registration)]  # one person, first seen there
    assert len(enrollments) == 1 and len(attempts) == 1
    # Scores go to the gradebook of the activity the educator enrolled through, with that registration's token.
    person = enrollments[0]
    assert _scores(app) == [("InProgress", second_registration, person), ("Submitted", second_registration, person)]


def test_the_same_sub_from_another_issuer_is_someone_else(app, browser, catalog, platform, other_platform):
    from tests.platform.browser import PlatformBrowser

    _save(browser, _submission_page(browser), "Ada's own goal.")
    theirs = _submission_page(PlatformBrowser(other_platform))
    assert "Ada's own goal." not in theirs.text

    people, enrollments, attempts = _people_and_work(app)
    assert sorted((issuer, sub) for issuer, sub, _ in people) == sorted(
        [(platform.issuer, "user-learner-1"), (other_platform.issuer, "user-learner-1")])
    assert len(set(enrollments)) == 2 and len(attempts) == 2


def test_an_assessor_first_seen_through_one_registration_assesses_a_course_of_the_other(app, second_tool_type):
    from tests.assessment_road import assessment_ids, launch_assessor, open_assessment, submit_work

    platform = second_tool_type
    launch_assessor(platform, context_id="course-1", resource_link_id="activity-1")  # first seen here
    with _through(platform, SECOND_CLIENT_ID, SECOND_DEPLOYMENT_ID):
        submit_work(platform, context_id="course-2", resource_link_id="activity-7")
        (assessment_id,) = assessment_ids(app)
        assessor = launch_assessor(platform, context_id="course-2", resource_link_id="activity-7")
        assert f'data-assessment-id="{assessment_id}"' in assessor.queue.text  # the course where they assess
        page = open_assessment(assessor, assessment_id)
        assert page.status_code == 200, page.text[:500]


def test_the_roster_read_through_the_other_registration_names_the_same_person(app, browser, catalog,
                                                                             second_tool_type):
    from lti_tool.extensions import db
    from lti_tool.lti.models import Context, Membership

    platform = second_tool_type
    _submission_page(browser, context_id="course-1", resource_link_id="activity-1")  # Ada, first seen here
    with _through(platform, SECOND_CLIENT_ID, SECOND_DEPLOYMENT_ID):
        platform.services.add_members("course-2", [{
            "user_id": "user-learner-1", "name": "Ada Lovelace", "given_name": "Ada", "family_name": "Lovelace",
            "email": "ada@school.example", "status": "Active",
            "roles": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"]}])
        asked = len(platform.services.requests_to("/memberships"))
        result = browser.launch(person="instructor", custom=BOUND, context_id="course-2", resource_link_id="activity-7")
        assert result.status_code == 200 and "/progress/" in result.url, result.text[:500]
        assert len(platform.services.requests_to("/memberships")) > asked  # the roster was read

    people, _, _ = _people_and_work(app)
    assert sorted(sub for _, sub, _ in people) == ["user-instructor-1", "user-learner-1"]
    with app.app_context():
        course_2 = db.session.scalar(db.select(Context).where(Context.context_id == "course-2"))
        members = {m.user.sub: m.user.registration_id for m in db.session.scalars(
            db.select(Membership).where(Membership.context_id == course_2.id))}
    first_registration, second_registration = _registration_ids(app, platform.issuer)
    assert members == {"user-learner-1": first_registration, "user-instructor-1": second_registration}


def test_purging_the_registration_a_person_was_first_seen_through_keeps_their_work_through_the_other(
        app, browser, catalog, second_tool_type):
    platform = second_tool_type
    seen = browser.launch(person="learner", context_id="course-1", resource_link_id="activity-0")  # first seen here
    assert seen.status_code == 200, seen.text[:500]
    with _through(platform, SECOND_CLIENT_ID, SECOND_DEPLOYMENT_ID):
        _save(browser, _submission_page(browser, context_id="course-2", resource_link_id="activity-7"),
              "Written through the second tool type.")
    first_registration, second_registration = _registration_ids(app, platform.issuer)

    result = app.test_cli_runner().invoke(args=["platforms", "remove", str(first_registration), "--purge", "--yes"])
    assert result.exit_code == 0, result.output

    people, enrollments, attempts = _people_and_work(app)
    assert people == [(platform.issuer, "user-learner-1", second_registration)]  # moved, not deleted
    assert len(enrollments) == 1 and len(attempts) == 1
    with _through(platform, SECOND_CLIENT_ID, SECOND_DEPLOYMENT_ID):
        again = _submission_page(browser, context_id="course-2", resource_link_id="activity-7")
    assert "Written through the second tool type." in again.text
