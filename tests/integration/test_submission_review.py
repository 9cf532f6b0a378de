"""LTI Submission Review 1.0 through real HTTP: the line items declare it; the gradebook's launch for one educator
shows an instructor that educator's work, sends an assessor to the blind scoring page, and refuses anyone else."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.assessment_road import (
    PDF,
    all_levels,
    assessment_ids,
    form_fields,
    launch_assessor,
    open_assessment,
    origin_of,
    release,
    score,
    submit_work,
)
from tests.nothing_changed import nothing_changes
from tests.platform.browser import forms_in
from tests.platform.platform import DL, PEOPLE

pytestmark = pytest.mark.usefixtures("running_term")  # the sample term runs today, whatever the date

SLUG = "self-assessment-growth"
BOUND = {"microcredential": SLUG}
REVIEW = "LtiSubmissionReviewRequest"
FEEDBACK = {"reflection_on_growth": "Use the evidence to analyse outcomes.",
            "evidence_of_progress": "Show progress over time."}


@pytest.fixture(autouse=True)
def _review_views_mounted(app):
    assert "submission_review" in app.blueprints, \
        "create_app must call lti_tool.assessment.educator_views.init_app(app)"


def _send_outbox(app):
    from lti_tool.gradebook.worker import run_once

    while run_once(app):
        pass


def _line_item(platform) -> tuple[str, dict]:
    (item_id,) = platform.services.line_items
    return item_id, platform.services.line_items[item_id]["data"]


def _assess_not_yet(app, platform, *, do_release: bool = True) -> int:
    assessment_id = assessment_ids(app)[-1]
    assessor = launch_assessor(platform)
    page = open_assessment(assessor, assessment_id)
    levels = all_levels(app, "demonstrated", evidence_of_progress="developing", reflection_on_growth="not_yet")
    assert score(assessor, page, levels, FEEDBACK).status_code == 200
    if do_release:
        assert release(assessor, assessment_id).status_code == 200
    return assessment_id


def _review(app, browser, platform, person: str, for_user: str = "learner", **plan):
    """A launch from the gradebook's cell of `for_user` (Submission Review 1.0 requires its line item)."""
    plan.setdefault("custom", BOUND)
    if "lineitem" not in plan:
        _send_outbox(app)  # the tool creates the activity's line item with the first score
        plan["lineitem"] = _line_item(platform)[0]
    return browser.launch(person=person, message_type=REVIEW, for_user=for_user, **plan)


def _ltik_payload(app, browser, url: str):
    """The launch the page's reference names, read as the tool reads it from this browser (its cookie)."""
    from lti_tool.lti.launch_context import read_launch_token

    ltik = parse_qs(urlsplit(url).query)["ltik"][0]
    cookie = f"lti_browser={browser.session.cookies.get('lti_browser')}"
    with app.test_request_context(headers={"Cookie": cookie}):
        return read_launch_token(ltik)


# -- the line items declare it -----------------------------------------------------------------------------------
def test_the_line_item_the_tool_creates_declares_submission_review(app, platform):
    submit_work(platform)
    _send_outbox(app)
    _, data = _line_item(platform)
    assert data["tag"] == "microcredential"
    assert data["submissionReview"] == {"reviewableStatus": ["Submitted", "Completed"],
                                        "url": platform.tool_launch_url}


def test_deep_linking_declares_submission_review_on_the_line_item(browser, platform, catalog):
    picker = browser.launch(person="instructor", message_type="LtiDeepLinkingRequest")
    answer = browser.submit_form(picker.response, microcredential=SLUG)
    form = forms_in(answer.text)[0]
    assert browser.post(form["action"], data=form["fields"]).status_code == 200
    (item,) = platform.deep_link_responses[-1][DL + "content_items"]
    assert item["lineItem"]["submissionReview"] == {"reviewableStatus": ["Submitted", "Completed"],
                                                    "url": platform.tool_launch_url}


# -- an instructor ------------------------------------------------------------------------------------------------
def test_an_instructor_sees_the_educators_attempts_feedback_and_decision(app, browser, platform):
    submitted = submit_work(platform, overview="Ada's goal and plan.")
    _send_outbox(app)
    item_id, data = _line_item(platform)
    assert data["submissionReview"]["url"] == platform.tool_launch_url  # where the platform sends this launch
    _assess_not_yet(app, platform)

    result = _review(app, browser, platform, "instructor", lineitem=item_id)
    assert result.status_code == 200, result.text[:500]
    assert urlsplit(result.url).path == "/submission-review/"
    text = html.unescape(result.text)
    assert "Submission of Ada Lovelace" in text and PEOPLE["learner"].email in text
    assert "Ada's goal and plan." in text and "What changed for my students." in text
    assert 'data-decision="notyet">Not yet<' in result.text
    for feedback in FEEDBACK.values():
        assert feedback in text
    assert "Allow a resubmission" not in text  # the sample reopens by itself (untilpass)

    link = re.search(r'<a href="(https://example.org/plan)"[^>]*>My plan</a>', result.text)
    assert link is not None
    download = re.search(r'<a href="(/files/\d+\?t=[^"]+)" download>', result.text).group(1)
    fetched = browser.get(origin_of(result.response) + html.unescape(download))
    assert fetched.status_code == 200 and fetched.content == PDF

    # after a resubmission, both attempts are shown, the latest first
    page = submitted.browser.get(origin_of(submitted.page) + "/submission/", params={"ltik": submitted.ltik})
    fields = form_fields(page, "resubmit-form")
    assert submitted.browser.post(origin_of(page) + "/submission/resubmit", data=fields).status_code == 200
    again = _review(app, browser, platform, "instructor", lineitem=item_id)
    assert again.text.index('id="attempt-2"') < again.text.index('id="attempt-1"')
    assert 'data-status="reopened"' in again.text


def test_an_instructor_sees_no_decision_before_release(app, browser, platform):
    submit_work(platform)
    _assess_not_yet(app, platform, do_release=False)
    result = _review(app, browser, platform, "instructor")
    assert result.status_code == 200
    assert "Ada Lovelace" in result.text
    assert "data-decision" not in result.text
    assert FEEDBACK["reflection_on_growth"] not in html.unescape(result.text)
    assert "has not been released yet" in result.text


def test_an_instructor_of_another_course_sees_nothing_of_this_course(app, browser, platform):
    submit_work(platform, overview="Ada's goal and plan.")
    other = platform.services.add_line_item("course-2", label="Elsewhere", scoreMaximum=10, resourceLinkId="activity-9")
    result = _review(app, browser, platform, "instructor-2", context_id="course-2", resource_link_id="activity-9",
                     lineitem=other["id"])
    assert result.status_code == 200
    assert "Ada's goal and plan." not in html.unescape(result.text)
    assert "has not started this micro-credential yet" in result.text


def test_allow_a_resubmission_is_refused_where_the_rule_reopens_by_itself(app, browser, platform):
    submit_work(platform)
    _assess_not_yet(app, platform)
    result = _review(app, browser, platform, "instructor")
    with nothing_changes(app):
        refused = browser.post(origin_of(result.response) + "/submission-review/allow-resubmission",
                               data={"ltik": result.ltik})
    assert refused.status_code == 400
    from lti_tool.assessment.models import Assessment
    from lti_tool.extensions import db

    with app.app_context():
        assert db.session.scalar(db.select(Assessment.reopen_allowed)) is False


# -- an assessor, the educator, anyone else ------------------------------------------------------------------------
def test_an_assessor_lands_on_the_blind_scoring_page_of_the_latest_attempt(app, browser, platform):
    submit_work(platform)
    (assessment_id,) = assessment_ids(app)
    result = _review(app, browser, platform, "assessor")
    assert result.status_code == 200, result.text[:500]
    assert urlsplit(result.url).path == f"/assessment/{assessment_id}"
    learner = PEOPLE["learner"]
    for identity in (learner.name, learner.given_name, learner.family_name, learner.email, learner.sub):
        assert identity not in result.text and identity not in result.url
    assert _ltik_payload(app, browser, result.url).for_user_id is None  # the page's launch reference names no educator


def test_an_educator_reviewing_their_own_work_sees_their_submission_page(app, browser, platform):
    submit_work(platform, overview="Ada's goal and plan.")
    result = _review(app, browser, platform, "learner", for_user="learner")
    assert result.status_code == 200
    assert urlsplit(result.url).path == "/submission/"
    assert "Ada's goal and plan." in html.unescape(result.text)


@pytest.mark.parametrize("person", ["learner-2", "guest"])
def test_anyone_else_is_refused(app, browser, platform, person):
    submit_work(platform, overview="Ada's goal and plan.")
    result = _review(app, browser, platform, person)
    assert result.status_code == 403
    assert "Only the course's instructors and assessors can review an educator's submission." in \
        html.unescape(result.text)
    assert "Ada's goal and plan." not in html.unescape(result.text)


def test_a_review_page_without_a_review_launch_is_refused(app, browser, platform):
    submit_work(platform)
    instructor = browser.launch(person="instructor", custom=BOUND)
    with nothing_changes(app):
        answer = browser.get(origin_of(instructor.response) + "/submission-review/", params={"ltik": instructor.ltik})
    assert answer.status_code == 400
    assert "gradebook" in answer.text
