"""Blind assessment: no page, download, JSON answer or header an assessor (or the audit log) receives names the
educator; in double-blind, the second assessor never sees the first's scoring until a third reconciles them."""

from __future__ import annotations

import re

import pytest

from tests.assessment_road import (
    all_levels,
    assessment_ids,
    form_fields,
    launch_assessor,
    open_assessment,
    score,
    submit_work,
)
from tests.integration.test_assessment_authorization import World
from tests.nothing_changed import nothing_changes
from tests.platform.platform import PEOPLE

pytestmark = pytest.mark.usefixtures("running_term")

EDUCATOR = PEOPLE["learner"]  # Ada Lovelace, ada@school.example, user-learner-1
FILE_NAME = "Ada-Lovelace-lesson-plan.pdf"
IDENTITY = [re.compile(pattern, re.IGNORECASE) for pattern in (
    rf"\b{EDUCATOR.given_name}\b", EDUCATOR.family_name, re.escape(EDUCATOR.email), re.escape(EDUCATOR.sub),
    re.escape(EDUCATOR.email.split("@")[0] + "@"), "Ada-Lovelace", "lesson-plan")]
FIRST_FEEDBACK = "First assessor: cite the student data behind this claim."
SECOND_FEEDBACK = "Second assessor: the reflection names one concrete change."
THIRD_FEEDBACK = "Third assessor: name the standard you measured against."
CRITERION = "accurate_self_assessment"


def assert_blind(response, what: str) -> None:
    """Nothing of the educator's identity in the body, the URL, the headers, or any redirect on the way."""
    for step in [*response.history, response]:
        seen = [step.url, *(f"{k}: {v}" for k, v in step.headers.items())]
        if step is response:
            seen.append(response.content.decode("latin-1"))
        for text in seen:
            for pattern in IDENTITY:
                match = pattern.search(text)
                context = text[max(0, match.start() - 80):match.end() + 80] if match else ""
                assert match is None, f"{what}: {match.group(0)!r} in …{context}…"


def _set_microcredential(app, **values) -> None:
    from lti_tool.catalog.models import MicroCredential
    from lti_tool.extensions import db

    with app.app_context():
        microcredential = db.session.scalar(db.select(MicroCredential).where(
            MicroCredential.slug == "self-assessment-growth"))
        for name, value in values.items():
            setattr(microcredential, name, value)
        db.session.commit()


def _scoring_form(page) -> str:
    match = re.search(r'<form[^>]*id="scoring-form".*?</form>', page.text, re.DOTALL)
    return match.group(0) if match else ""


@pytest.fixture
def blind(app, platform):
    """Double-blind with a review before release, set before submission (the settings are copied then)."""
    _set_microcredential(app, double_blind=True, review_before_release=True)
    submitted = submit_work(platform, file_name=FILE_NAME, overview="My goal and plan for the term.")
    (assessment_id,) = assessment_ids(app)
    return submitted, assessment_id


def test_every_assessor_facing_page_and_download_is_blind(app, platform, blind):
    submitted, assessment_id = blind
    first = launch_assessor(platform, "assessor")
    assert_blind(first.queue, "the queue")
    assert f'data-assessment-id="{assessment_id}"' in first.queue.text

    page = open_assessment(first, assessment_id)
    assert page.status_code == 200
    assert_blind(page, "the first assessor's scoring page")
    for url in re.findall(r'href="([^"]*/files/[^"]*)"', page.text) + re.findall(r'src="([^"]*/files/[^"]*)"',
                                                                                 page.text):
        got = first.browser.get(first.tool + url.replace("&amp;", "&"))
        assert got.status_code == 200, url
        assert_blind(got, f"the file {url}")
    download = first.browser.get(first.tool + re.search(r'<a href="([^"]*/files/[^"]*)"', page.text)
                                 .group(1).replace("&amp;", "&"))
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert_blind(download, "the download")

    fields = form_fields(page, "scoring-form")
    autosaved = first.browser.post(f"{first.tool}/assessment/{assessment_id}/autosave", data={
        **fields, f"feedback-{CRITERION}": FIRST_FEEDBACK, f"level-{CRITERION}": "developing"})
    assert autosaved.status_code == 200, autosaved.text
    assert_blind(autosaved, "the autosave answer")
    with nothing_changes(app):
        stale = first.browser.post(f"{first.tool}/assessment/{assessment_id}/autosave", data={
            **fields, f"feedback-{CRITERION}": FIRST_FEEDBACK})
    assert stale.status_code == 409
    assert_blind(stale, "the stale autosave answer")
    with nothing_changes(app):
        stale_page = score(first, page, {CRITERION: "developing"}, {CRITERION: FIRST_FEEDBACK}, action="save")
    assert stale_page.status_code == 409
    assert_blind(stale_page, "the stale save page")

    second = launch_assessor(platform, "assessor-2")
    second_page = open_assessment(second, assessment_id)
    assert second_page.status_code == 200
    assert_blind(second_page, "the second assessor's scoring page")

    third = launch_assessor(platform, "assessor-3")
    with nothing_changes(app):
        busy = open_assessment(third, assessment_id)
    assert busy.status_code == 409
    assert "another assessor" in busy.text
    assert_blind(busy, "the “claimed by another” page")

    done = score(first, open_assessment(first, assessment_id),
                 all_levels(app, "demonstrated", **{CRITERION: "developing"}), {CRITERION: FIRST_FEEDBACK})
    assert done.status_code == 200, done.text[:500]
    assert_blind(done, "the first assessor's page after completing")
    done = score(second, open_assessment(second, assessment_id), all_levels(app, "demonstrated"),
                 {CRITERION: SECOND_FEEDBACK})
    assert done.status_code == 200, done.text[:500]

    third = launch_assessor(platform, "assessor-3")
    third_page = open_assessment(third, assessment_id)
    assert third_page.status_code == 200 and 'id="other-scorings"' in third_page.text
    assert_blind(third_page, "the third assessor's page")
    decided = score(third, third_page, all_levels(app, "demonstrated", **{CRITERION: "developing"}),
                    {CRITERION: THIRD_FEEDBACK})
    assert decided.status_code == 200, decided.text[:500]
    assert "Ready for review" in decided.text

    world = World(app, platform, None)
    world.launch("org-assessor")
    world.grant("org-assessor")
    reviewer = launch_assessor(platform, "org-assessor")
    review_page = open_assessment(reviewer, assessment_id)
    assert review_page.status_code == 200 and "You are reviewing this decision" in review_page.text
    assert_blind(review_page, "the review page")
    reviewed = score(reviewer, review_page, all_levels(app, "demonstrated", **{CRITERION: "developing"}),
                     {CRITERION: THIRD_FEEDBACK})
    assert reviewed.status_code == 200 and "Ready for release" in reviewed.text

    admin = world.launch("admin")
    admin_queue = admin.browser.get(f"{admin.tool}/assessment/", params={"ltik": admin.ltik})
    assert admin_queue.status_code == 200
    assert_blind(admin_queue, "the admin's queue")
    admin_page = open_assessment(admin, assessment_id)
    assert_blind(admin_page, "the admin's view of the scoring page")
    released = admin.browser.post(f"{admin.tool}/assessment/release",
                                  data={"ltik": admin.ltik, "assessment_id": str(assessment_id)})
    assert released.status_code == 200 and "Released" in released.text
    assert_blind(released, "the queue after a bulk release")

    after = open_assessment(first, assessment_id)
    assert after.status_code == 200 and "Released" in after.text
    assert_blind(after, "the scoring page after release")
    assert_blind(first.browser.get(f"{first.tool}/assessment/", params={"ltik": first.ltik, "state": "all"}),
                 "the queue of everything")

    log = admin.browser.get(f"{admin.tool}/assessment/{assessment_id}/log", params={"ltik": admin.ltik})
    assert log.status_code == 200 and "released" in log.text
    assert PEOPLE["assessor"].name in log.text  # the audit log may name assessors
    assert_blind(log, "the audit log")


def test_the_audit_log_does_not_name_the_educator_after_a_resubmission(app, platform):
    from lti_tool.assessment.services import start_resubmission
    from lti_tool.extensions import db
    from lti_tool.submissions.models import Attempt

    submitted = submit_work(platform, file_name=FILE_NAME)
    (assessment_id,) = assessment_ids(app)
    assessor = launch_assessor(platform)
    score(assessor, open_assessment(assessor, assessment_id),
          all_levels(app, "demonstrated", **{CRITERION: "developing"}), {CRITERION: FIRST_FEEDBACK})
    assessor.browser.post(f"{assessor.tool}/assessment/{assessment_id}", data={"ltik": assessor.ltik,
                                                                                "action": "release"})
    if "feedback.resubmit" in app.view_functions:
        started = submitted.browser.post(f"{assessor.tool}/submission/resubmit", data={
            "ltik": submitted.ltik, "action": "resubmit", "attempt_id": str(submitted.attempt_id)})
        assert started.status_code == 200, started.text[:500]
    else:  # the educator's page is not mounted in this build: the same verb its view calls
        with app.app_context():
            start_resubmission(db.session.get(Attempt, submitted.attempt_id).enrollment)
            db.session.commit()

    admin = World(app, platform, None).launch("admin")
    log = admin.browser.get(f"{admin.tool}/assessment/{assessment_id}/log", params={"ltik": admin.ltik})
    assert log.status_code == 200 and "resubmission started" in log.text
    assert_blind(log, "the audit log after a resubmission")


def test_in_double_blind_the_second_assessor_never_sees_the_first_scoring(app, platform, blind):
    _, assessment_id = blind
    first = launch_assessor(platform, "assessor")
    saved = score(first, open_assessment(first, assessment_id), {CRITERION: "developing"},
                  {CRITERION: FIRST_FEEDBACK}, action="save")
    assert saved.status_code == 200 and FIRST_FEEDBACK in saved.text

    second = launch_assessor(platform, "assessor-2")
    page = open_assessment(second, assessment_id)
    assert page.status_code == 200 and 'id="scoring-form"' in page.text
    assert FIRST_FEEDBACK not in page.text
    assert " checked" not in _scoring_form(page)  # no level chosen for them
    assert 'id="other-scorings"' not in page.text

    score(first, open_assessment(first, assessment_id), all_levels(app, "demonstrated", **{CRITERION: "developing"}),
          {CRITERION: FIRST_FEEDBACK})
    page = open_assessment(second, assessment_id)
    assert FIRST_FEEDBACK not in page.text and " checked" not in _scoring_form(page)
    first_view = open_assessment(first, assessment_id)
    assert FIRST_FEEDBACK in first_view.text  # their own, read-only


def test_after_a_disagreement_the_second_assessor_still_does_not_see_the_first_scoring(app, platform, blind):
    _, assessment_id = blind
    first, second = launch_assessor(platform, "assessor"), launch_assessor(platform, "assessor-2")
    second_page = open_assessment(second, assessment_id)
    score(first, open_assessment(first, assessment_id), all_levels(app, "demonstrated", **{CRITERION: "developing"}),
          {CRITERION: FIRST_FEEDBACK})
    done = score(second, second_page, all_levels(app, "demonstrated"), {CRITERION: SECOND_FEEDBACK})
    assert done.status_code == 200, done.text[:500]

    again = open_assessment(second, assessment_id)
    assert again.status_code == 200
    assert SECOND_FEEDBACK in again.text
    assert FIRST_FEEDBACK not in again.text


def test_the_third_assessor_sees_both_scorings_after_a_disagreement(app, platform, blind):
    _, assessment_id = blind
    first, second = launch_assessor(platform, "assessor"), launch_assessor(platform, "assessor-2")
    second_page = open_assessment(second, assessment_id)
    score(first, open_assessment(first, assessment_id), all_levels(app, "demonstrated", **{CRITERION: "developing"}),
          {CRITERION: FIRST_FEEDBACK})
    score(second, second_page, all_levels(app, "demonstrated"), {CRITERION: SECOND_FEEDBACK})

    third = open_assessment(launch_assessor(platform, "assessor-3"), assessment_id)
    assert third.status_code == 200
    assert FIRST_FEEDBACK in third.text and SECOND_FEEDBACK in third.text
    assert "Not yet" in third.text and "Earned" in third.text
