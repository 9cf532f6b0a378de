"""The educator's side of assessment, through real HTTP: feedback after release, resubmission, what changed."""

from __future__ import annotations

import html
import re
import threading
from datetime import timedelta

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
    set_microcredential,
    submit_work,
)
from tests.nothing_changed import nothing_changes
from tests.platform.browser import PlatformBrowser, forms_in
from tests.platform.platform import PEOPLE

pytestmark = pytest.mark.usefixtures("running_term")  # the sample term runs today, whatever the date

SLUG = "self-assessment-growth"
TITLE = "Educator Self-Assessment and Professional Growth"
RUBRIC_ORDER = ["accurate_self_assessment", "goal_and_plan", "evidence_of_progress", "reflection_on_growth"]
NOT_YET_LEVELS = {"evidence_of_progress": "developing", "reflection_on_growth": "not_yet"}
NOT_YET_FEEDBACK = {
    "evidence_of_progress": "Add a second artifact that shows progress over time.",
    "reflection_on_growth": "Analyse the outcomes for your students, using the evidence.",
    "accurate_self_assessment": "A clear, well-evidenced self-assessment.",
}


@pytest.fixture(autouse=True)
def _educator_views_mounted(app):
    assert "feedback" in app.blueprints, "create_app must call lti_tool.assessment.educator_views.init_app(app)"


# -- helpers ---------------------------------------------------------------------------------------------------
def _assess(app, platform, *, decision: str = "notyet", do_release: bool = True):
    """The latest submission scored by the course's assessor through the scoring page, then released."""
    assessment_id = assessment_ids(app)[-1]
    assessor = launch_assessor(platform)
    page = open_assessment(assessor, assessment_id)
    assert page.status_code == 200, page.text[:500]
    if decision == "earned":
        levels, feedback = all_levels(app, "demonstrated"), {}
    else:
        levels, feedback = all_levels(app, "demonstrated", **NOT_YET_LEVELS), NOT_YET_FEEDBACK
    completed = score(assessor, page, levels, feedback)
    assert completed.status_code == 200, completed.text[:500]
    if do_release:
        released = release(assessor, assessment_id)
        assert released.status_code == 200, released.text[:500]
    return assessment_id


def _page(browser, ltik_source):
    """The educator's submission page again (a reload with the page's launch reference)."""
    ltik = form_fields(ltik_source, "attempt-form")["ltik"]
    return browser.get(origin_of(ltik_source) + "/submission/", params={"ltik": ltik})


def _relaunch(submitted):
    """The educator opens the activity again from the course (a new launch)."""
    result = submitted.browser.launch(person="learner", custom={"microcredential": SLUG})
    assert result.status_code == 200, result.text[:500]
    return result.response


def _status(response) -> str:
    return re.search(r'data-status="(\w+)"', response.text).group(1)


def _resubmit(browser, page, follow=True):
    fields = form_fields(page, "resubmit-form")
    assert fields["action"] == "resubmit"
    return browser.post(origin_of(page) + "/submission/resubmit", data=fields, allow_redirects=follow)


def _attempts(app):
    from lti_tool.extensions import db
    from lti_tool.submissions.models import Attempt

    with app.app_context():
        return [(a.number, a.status, a.overview, a.reflection, a.collaborated,
                 [(x.kind, x.url, x.file_name, x.storage_key, x.sha256) for x in a.artifacts])
                for a in db.session.scalars(db.select(Attempt).order_by(Attempt.number))]


def _text(response) -> str:
    return html.unescape(response.text)


# -- feedback ----------------------------------------------------------------------------------------------------
def test_nothing_of_the_scoring_shows_before_release_and_all_of_it_after_in_rubric_order(app, platform):
    submitted = submit_work(platform)
    _assess(app, platform, do_release=False)

    before = _page(submitted.browser, submitted.page)
    assert before.status_code == 200
    assert "Submitted for assessment" in before.text and "Being assessed" in before.text
    for hidden in ('id="outcome"', "Not yet", "Developing", *NOT_YET_FEEDBACK.values(), "Start resubmission"):
        assert hidden not in _text(before)

    release(launch_assessor(platform), assessment_ids(app)[-1])
    after = _page(submitted.browser, submitted.page)
    text = _text(after)
    assert re.search(r'id="outcome"[^>]*data-decision="notyet"', after.text)
    assert "Assessment of attempt 1: Not yet" in text
    assert 'data-decision="notyet">Not yet<' in after.text  # the status panel too
    positions = [after.text.index(f'data-criterion="{key}"') for key in RUBRIC_ORDER]
    assert positions == sorted(positions)
    outcome = text[text.index('id="outcome"'):]
    for key, level in (("accurate_self_assessment", "Demonstrated"), ("goal_and_plan", "Demonstrated"),
                       ("evidence_of_progress", "Developing"), ("reflection_on_growth", "Not yet")):
        row = re.search(rf'data-criterion="{key}".*?</tr>', outcome, re.S).group(0)
        assert f"<td>{level}</td>" in row
        if key in NOT_YET_FEEDBACK:
            assert NOT_YET_FEEDBACK[key] in row
    assert outcome.index("Evidence of implementation and progress") < outcome.index("Reflection on growth")


def test_the_educator_never_learns_who_assessed(app, platform):
    submitted = submit_work(platform)
    _assess(app, platform)
    page = _page(submitted.browser, submitted.page)
    assert 'id="outcome"' in page.text
    assessor = PEOPLE["assessor"]
    for identity in (assessor.name, assessor.given_name, assessor.family_name, assessor.email, assessor.sub):
        assert identity not in page.text

    from lti_tool.extensions import db
    from lti_tool.lti.models import LtiUser

    with app.app_context():
        assessor_id = db.session.scalar(db.select(LtiUser.id).where(LtiUser.sub == assessor.sub))
    assert f'assessor_id={assessor_id}' not in page.text and f'data-assessor="{assessor_id}"' not in page.text


def test_an_earned_decision_says_so_plainly_and_offers_no_resubmission(app, platform):
    submitted = submit_work(platform)
    _assess(app, platform, decision="earned")
    page = _page(submitted.browser, submitted.page)
    assert f"You have earned {TITLE}." in _text(page)
    assert "Your Open Badge is issued" in _text(page)
    assert "Assessment of attempt 1: Earned" in _text(page)
    assert "Start resubmission" not in page.text and 'id="resubmit-form"' not in page.text
    assert "resubmission-refusal" not in page.text


# -- resubmission ------------------------------------------------------------------------------------------------
def test_a_resubmission_starts_as_a_copy_with_the_feedback_beside_each_part(app, platform):
    submitted = submit_work(platform, overview="My goal and plan, first version.")
    _assess(app, platform)
    page = _page(submitted.browser, submitted.page)
    assert "Start resubmission" in page.text

    started = _resubmit(submitted.browser, page)
    assert started.status_code == 200, started.text[:500]
    assert "/submission/" in started.url
    assert _status(started) == "reopened"
    assert "Reopened for a new attempt" in started.text and "This is attempt 2." in started.text
    assert "<textarea" in started.text  # attempt 2 can be edited
    text = _text(started)
    assert "My goal and plan, first version." in text and "What changed for my students." in text

    (first, second) = _attempts(app)
    assert (first[0], first[1], second[0], second[1]) == (1, "submitted", 2, "reopened")
    assert first[2:5] == second[2:5]  # texts and the collaboration statement
    assert first[5] == second[5]  # the same links and files, files sharing their stored copy (same key)
    assert any(kind == "file" for kind, *_ in second[5])

    # beside each part, the feedback on attempt 1 that concerns it
    for part, key in (("artifacts", "evidence_of_progress"), ("reflection", "reflection_on_growth"),
                      ("overview", "accurate_self_assessment")):
        aside = re.search(rf'<aside[^>]*id="feedback-{part}".*?</aside>', text, re.S).group(0)
        assert "Feedback on attempt 1" in aside
        assert NOT_YET_FEEDBACK[key] in aside
        assert text.index(f'id="part-{part}"') < text.index(f'id="feedback-{part}"')
    artifacts_aside = re.search(r'<aside[^>]*id="feedback-artifacts".*?</aside>', text, re.S).group(0)
    assert NOT_YET_FEEDBACK["reflection_on_growth"] not in artifacts_aside
    assert 'id="outcome"' not in started.text  # the decision block belongs to attempt 1
    assert "Attempt 1 was assessed" in text

    again = _page(submitted.browser, started)  # a reload: still attempt 2, no second copy
    assert "This is attempt 2." in again.text and len(_attempts(app)) == 2


def test_removing_a_file_from_the_new_attempt_keeps_the_earlier_attempts_file(app, platform):
    from lti_tool.extensions import db
    from lti_tool.submissions.models import Artifact, Attempt

    submitted = submit_work(platform)
    _assess(app, platform)
    started = _resubmit(submitted.browser, _page(submitted.browser, submitted.page))
    assert started.status_code == 200
    with app.app_context():
        files = db.session.scalars(db.select(Artifact).join(Attempt).where(Artifact.kind == "file")
                                   .order_by(Attempt.number)).all()
        (old_id, old_key), (new_id, new_key) = [(f.id, f.storage_key) for f in files]
    assert old_key == new_key

    fields = form_fields(started, "attempt-form")
    ltik, tool = fields["ltik"], origin_of(started)
    removed = submitted.browser.post(f"{tool}/artifacts/{new_id}/remove",
                                     data={"ltik": ltik, "attempt_id": fields["attempt_id"]})
    assert removed.status_code == 200, removed.text[:500]
    with app.app_context():
        assert db.session.get(Artifact, new_id) is None
        assert db.session.get(Artifact, old_id).storage_key == old_key
    from lti_tool.submissions.file_links import reader_file_url
    from tests.integration.test_uploads import launch_context_of

    with app.test_request_context(base_url=tool):  # no page lists an earlier attempt's files: its link, as issued
        link = reader_file_url(launch_context_of(app, ltik), db.session.get(Artifact, old_id))
    download = submitted.browser.get(tool + link)
    assert download.status_code == 200
    assert download.content == PDF


def test_a_double_click_on_start_resubmission_opens_one_attempt_and_answers_409(app, platform):
    submitted = submit_work(platform)
    _assess(app, platform)
    page = _page(submitted.browser, submitted.page)
    first = _resubmit(submitted.browser, page, follow=False)
    assert first.status_code == 303
    with nothing_changes(app):
        second = _resubmit(submitted.browser, page)  # the same form again: a double click, or a second tab
    assert second.status_code == 409
    assert "already started" in _text(second)
    assert [a[0] for a in _attempts(app)] == [1, 2]


def test_two_tabs_starting_a_resubmission_at_once_open_one_attempt(app, platform):
    submitted = submit_work(platform)
    _assess(app, platform)
    page = _page(submitted.browser, submitted.page)
    fields = form_fields(page, "resubmit-form")
    url = origin_of(page) + "/submission/resubmit"
    results: list = []
    start = threading.Barrier(4)

    def post():
        browser = PlatformBrowser(platform)  # another tab of the same browser: its cookies
        browser.session.cookies.update(submitted.browser.session.cookies)
        start.wait()
        results.append(browser.post(url, data=fields, allow_redirects=False).status_code)

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(results) == [303, 409, 409, 409], results
    assert [a[0] for a in _attempts(app)] == [1, 2]


def test_no_resubmission_once_every_attempt_is_used(app, platform):
    set_microcredential(app, max_attempts=1)
    submitted = submit_work(platform)
    _assess(app, platform)
    page = _page(submitted.browser, submitted.page)
    refusal = re.search(r'id="resubmission-refusal">([^<]+)<', page.text).group(1)
    assert html.unescape(refusal) == "You have used all 1 attempts for this micro-credential."
    assert 'id="resubmit-form"' not in page.text

    with nothing_changes(app):
        forced = submitted.browser.post(origin_of(page) + "/submission/resubmit",
                                        data={"ltik": submitted.ltik, "attempt_id": submitted.attempt_id,
                                              "action": "resubmit"})
    assert forced.status_code == 409
    assert "used all 1 attempts" in _text(forced)
    assert len(_attempts(app)) == 1


def test_no_resubmission_after_the_final_deadline(app, platform):
    from lti_tool.catalog.models import Term
    from lti_tool.core.models import utcnow
    from lti_tool.extensions import db

    submitted = submit_work(platform)
    _assess(app, platform)
    page = _page(submitted.browser, submitted.page)
    with app.app_context():
        now = utcnow()
        for term in db.session.scalars(db.select(Term)):
            term.enrollment_opens_at = now - timedelta(days=60)
            term.enrollment_closes_at = term.recommended_submission_at = now - timedelta(days=3)
            term.final_deadline_at = now - timedelta(days=1)
        db.session.commit()

    late = _page(submitted.browser, submitted.page)
    assert "has passed" in re.search(r'id="resubmission-refusal">([^<]+)<', late.text).group(1)
    assert 'id="resubmit-form"' not in late.text
    assert NOT_YET_FEEDBACK["reflection_on_growth"] in _text(late)  # the feedback stays readable
    with nothing_changes(app):
        refused = _resubmit(submitted.browser, page)  # the form from before the deadline
    assert refused.status_code == 409
    assert "deadline" in _text(refused)
    assert len(_attempts(app)) == 1


def test_under_the_manual_rule_the_educator_waits_for_the_instructor(app, platform):
    set_microcredential(app, reopen_rule="manual")
    submitted = submit_work(platform)
    _assess(app, platform)
    page = _page(submitted.browser, submitted.page)
    refusal = html.unescape(re.search(r'id="resubmission-refusal">([^<]+)<', page.text).group(1))
    assert refusal == "A resubmission opens when your instructor or assessor reopens it."
    with nothing_changes(app):
        forced = submitted.browser.post(origin_of(page) + "/submission/resubmit",
                                        data={"ltik": submitted.ltik, "attempt_id": submitted.attempt_id,
                                              "action": "resubmit"})
    assert forced.status_code == 409 and len(_attempts(app)) == 1

    from lti_tool.gradebook.worker import run_once

    while run_once(app):  # the tool creates the activity's line item in the gradebook with the first score
        pass
    (item_id,) = platform.services.line_items
    instructor = PlatformBrowser(platform)
    review = instructor.launch(person="instructor", message_type="LtiSubmissionReviewRequest", for_user="learner",
                               lineitem=item_id, custom={"microcredential": SLUG})
    assert review.status_code == 200, review.text[:500]
    allowed = instructor.submit_form(review.response, index=[f["id"] for f in forms_in(review.text)]
                                     .index("allow-resubmission"))
    assert allowed.status_code == 200, allowed.text[:500]
    assert "A resubmission is allowed" in allowed.text
    assert "Allow a resubmission" not in allowed.text

    reopened = _relaunch(submitted)
    assert "Attempt 1 was reopened for you: you can start a resubmission." in _text(reopened)
    started = _resubmit(submitted.browser, reopened)
    assert started.status_code == 200 and _status(started) == "reopened"
    assert [a[0] for a in _attempts(app)] == [1, 2]


def test_a_resubmitted_attempt_shows_the_earlier_feedback_until_its_own_is_released(app, platform):
    submitted = submit_work(platform)
    _assess(app, platform)
    started = _resubmit(submitted.browser, _page(submitted.browser, submitted.page))
    fields = form_fields(started, "attempt-form")
    tool = origin_of(started)
    saved = submitted.browser.post(tool + "/submission/", data={**fields, "action": "save",
                                                                 "reflection": "A deeper reflection."})
    assert saved.status_code == 200
    fields = form_fields(saved, "attempt-form")
    asked = submitted.browser.post(tool + "/submission/", data={**fields, "action": "submit"})
    done = submitted.browser.submit_form(asked, index=[f["fields"].get("action") for f in forms_in(asked.text)]
                                         .index("confirm"))
    assert done.status_code == 200 and _status(done) == "submitted"
    assert "Feedback on attempt 1" in done.text and 'id="outcome"' not in done.text

    _assess(app, platform, decision="earned")
    page = _page(submitted.browser, done)
    assert "Assessment of attempt 2: Earned" in _text(page)
    assert "Feedback on attempt 1" not in page.text


# -- what changed since the last visit ---------------------------------------------------------------------------
def test_the_next_launch_tells_what_changed_once(app, platform):
    submitted = submit_work(platform)
    first = _relaunch(submitted)
    assert 'id="changes"' not in first.text  # nothing was assessed yet

    _assess(app, platform)
    told = _relaunch(submitted)
    changes = _text(told)[_text(told).index('id="changes"'):]
    assert "Your attempt 1 was assessed: Not yet. Read the feedback below." in changes

    again = _relaunch(submitted)
    assert 'id="changes"' not in again.text
    assert "Not yet" in again.text  # the decision itself stays on the page


def test_an_earned_decision_is_announced_on_the_next_launch(app, platform):
    submitted = submit_work(platform)
    _assess(app, platform, decision="earned")
    told = _relaunch(submitted)
    assert "Your attempt 1 was assessed: Earned." in _text(told)
    assert 'id="changes"' not in _relaunch(submitted).text
