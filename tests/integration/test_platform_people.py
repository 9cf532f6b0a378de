"""The test platform's people, submission review launches and gradebook results, through real HTTP.

These check the platform as much as the tool: each person it offers launches and lands where their LTI role
puts them, a submission review launch it builds passes the tool's validation, and its results endpoint
answers as a gradebook would (AGS 2.0 §3.3), with a grade a teacher changed by hand winning over scores.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import jwt
import pytest

from lti_tool.extensions import db
from lti_tool.lti import ags
from lti_tool.lti.models import Registration
from tests.platform.platform import AGS_CLAIM, FOR_USER_CLAIM, LTI, PEOPLE, ROLE, ROLES

SLUG = "self-assessment-growth"
BOUND = {"microcredential": SLUG}
SUBMISSION_REVIEW = "LtiSubmissionReviewRequest"

pytestmark = pytest.mark.usefixtures("running_term")  # the sample term runs today, whatever the date


def _claims(result) -> dict:
    return jwt.decode(result.id_token, options={"verify_signature": False})


def _in_the_tool(result, live_tool) -> bool:
    return result.url.startswith(live_tool.url + "/")


def _who(text: str) -> str:
    """The page's "who" line: name · duty · course."""
    start = text.find('<span class="who">')
    return text[start : text.find("</span>", start)] if start >= 0 else ""


# -- people ---------------------------------------------------------------------------------------------------
def test_every_person_has_distinctive_names_and_emails():
    subs = [person.sub for person in PEOPLE.values()]
    names = [person.name for person in PEOPLE.values()]
    emails = [person.email for person in PEOPLE.values()]
    family_names = [person.family_name for person in PEOPLE.values()]
    assert len(set(subs)) == len(set(names)) == len(set(emails)) == len(set(family_names)) == len(PEOPLE)
    assert set(ROLES) == set(PEOPLE)


@pytest.mark.parametrize("person", ["assessor-2", "assessor-3"])
def test_a_grader_alone_or_a_mentor_lands_as_assessor(browser, live_tool, catalog, person):
    result = browser.launch(person=person, custom=BOUND)

    assert result.status_code == 200
    assert _in_the_tool(result, live_tool)
    who = _who(result.text)
    assert PEOPLE[person].name in who
    assert "Assessor" in who
    assert "Instructor" not in who


def test_the_second_educator_lands_on_her_own_submission_page(browser, live_tool, catalog):
    result = browser.launch(person="learner-2", custom=BOUND)

    assert result.status_code == 200
    assert _in_the_tool(result, live_tool)
    assert "Katherine Johnson" in result.text
    assert "Ada Lovelace" not in result.text


def test_an_instructor_of_another_course_lands_in_that_course(app, browser, live_tool, catalog, platform):
    platform.services.add_members("course-2", [], context={"id": "course-2", "title": "Another course"})

    result = browser.launch(person="instructor-2", context_id="course-2", resource_link_id="activity-9", custom=BOUND)

    assert result.status_code == 200
    assert _in_the_tool(result, live_tool)
    from lti_tool.lti.models import Context

    with app.app_context():
        assert db.session.scalars(db.select(Context.context_id)).all() == ["course-2"]


def test_staff_without_a_course_role_gets_no_duty(browser, catalog):
    result = browser.launch(person="org-assessor", custom=BOUND)

    # Validated (nothing at the platform was wrong) but given nothing: only an organization grant could.
    assert result.status_code < 500
    assert "Assessor" not in _who(result.text)
    assert result.status_code == 403, "a person without a course role now lands somewhere: check the grant"


def test_a_launch_plan_can_override_the_roles(browser, catalog):
    result = browser.launch(person="learner-2", roles=[ROLE + "Mentor"], custom=BOUND)

    assert _claims(result)[LTI + "roles"] == [ROLE + "Mentor"]
    assert result.status_code == 200
    assert "Assessor" in _who(result.text)


# -- submission review ------------------------------------------------------------------------------------------
def _reviewable_line_item(platform, **review) -> dict:
    return platform.services.add_line_item(
        "course-1",
        label="Educator Self-Assessment and Professional Growth",
        scoreMaximum=1,
        resourceLinkId="activity-1",
        resourceId=SLUG,
        tag="microcredential",
        submissionReview={"reviewableStatus": ["Submitted", "Completed"], **review},
    )


def test_a_submission_review_launch_is_spec_shaped_and_passes_validation(browser, live_tool, catalog, platform):
    item = _reviewable_line_item(platform, label="Open the portfolio", custom={"review": "yes"})

    result = browser.launch(person="instructor", message_type=SUBMISSION_REVIEW, lineitem=item["id"],
                            for_user="learner-2", custom=BOUND)

    claims = _claims(result)
    assert claims[LTI + "message_type"] == SUBMISSION_REVIEW
    assert claims["sub"] == PEOPLE["instructor"].sub  # the reviewer launches
    assert claims[LTI + "resource_link"]["id"] == "activity-1"
    assert claims[AGS_CLAIM]["lineitem"] == item["id"]
    assert claims[LTI + "custom"] == {"microcredential": SLUG, "review": "yes"}
    assert claims[LTI + "target_link_uri"] == platform.tool_launch_url
    katherine = PEOPLE["learner-2"]
    assert claims[FOR_USER_CLAIM] == {
        "user_id": katherine.sub,
        "given_name": katherine.given_name,
        "family_name": katherine.family_name,
        "name": katherine.name,
        "email": katherine.email,
        "roles": ROLES["learner-2"],
    }
    assert result.status_code == 200
    assert _in_the_tool(result, live_tool)
    assert not platform.auth_errors


def test_a_resource_link_launch_may_name_its_line_item(browser, catalog, platform):
    item = _reviewable_line_item(platform)

    result = browser.launch(person="learner", lineitem=item["id"], custom=BOUND)

    assert _claims(result)[AGS_CLAIM]["lineitem"] == item["id"]
    assert FOR_USER_CLAIM not in _claims(result)
    assert result.status_code == 200


def test_a_submission_review_launch_without_its_line_item_is_refused(app, browser, catalog):
    result = browser.launch(person="instructor", message_type=SUBMISSION_REVIEW, for_user="learner-2", custom=BOUND)

    assert 400 <= result.status_code < 500
    assert "lineitem" in result.text.lower() or "line item" in result.text.lower()


# -- line items and results -----------------------------------------------------------------------------------------
@pytest.fixture
def registration(app_context, platform) -> Registration:
    return db.session.scalars(db.select(Registration).filter_by(issuer=platform.issuer)).one()


def test_a_line_item_keeps_its_submission_review(registration, platform):
    review = {"reviewableStatus": ["Submitted"], "label": "Open the portfolio", "url": platform.tool_launch_url,
              "custom": {"view": "review"}}
    created = ags.create_line_item(registration, platform.services.lineitems_url("course-1"),
                                   {"label": "Reflective Practice", "scoreMaximum": 1, "submissionReview": review})

    assert created["submissionReview"] == review
    assert ags.get_line_item(registration, created["id"])["submissionReview"] == review


def test_results_come_from_scores_scaled_to_the_line_item(registration, platform):
    services = platform.services
    item = services.add_line_item("course-1", label="Reflective Practice", scoreMaximum=10)
    ags.post_score(registration, item["id"], ags.build_score(
        "user-learner-1", "Completed", "FullyGraded", score_given=1, score_maximum=1, comment="Earned"))
    ags.post_score(registration, item["id"], ags.build_score("user-learner-2", "Submitted", "PendingManual"))

    results = {r["userId"]: r for r in ags.get_results(registration, item["id"])}

    assert results["user-learner-1"]["resultScore"] == 10
    assert results["user-learner-1"]["resultMaximum"] == 10
    assert results["user-learner-1"]["comment"] == "Earned"
    assert results["user-learner-1"]["scoreOf"] == item["id"]
    assert "resultScore" not in results["user-learner-2"]  # progress only: an empty grade
    [mine] = ags.get_results(registration, item["id"], user_sub="user-learner-2")
    assert mine["userId"] == "user-learner-2"


def test_a_grade_changed_by_hand_wins_over_later_scores(registration, platform):
    services = platform.services
    item = services.add_line_item("course-1", label="Reflective Practice", scoreMaximum=1)
    ags.post_score(registration, item["id"], ags.build_score(
        "user-learner-1", "Completed", "FullyGraded", score_given=0, score_maximum=1))

    services.set_result_by_hand(item["id"], "user-learner-1", 1, comment="Changed by the teacher")
    ags.post_score(registration, item["id"], ags.build_score(
        "user-learner-1", "Completed", "FullyGraded", score_given=0, score_maximum=1))

    [result] = ags.get_results(registration, item["id"], user_sub="user-learner-1")
    assert (result["resultScore"], result["comment"]) == (1, "Changed by the teacher")
    assert services.results_for(urlsplit(item["id"]).path.rsplit("/", 1)[1])["user-learner-1"]["resultScore"] == 1


def test_the_request_counter_sees_one_token_per_scope_set(registration, platform):
    services = platform.services
    item = services.add_line_item("course-1", label="Reflective Practice", scoreMaximum=1)
    for _ in range(3):
        ags.post_score(registration, item["id"], ags.build_score("user-learner-1", "Started", "NotReady"))
        ags.get_results(registration, item["id"])

    assert services.requests_count("/scores", "POST") == 3
    assert services.requests_count("/results") == 3
    assert services.requests_count("/token") == 2  # score, and result.readonly: cached after the first
