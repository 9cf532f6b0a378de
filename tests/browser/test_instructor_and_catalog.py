"""The instructor's progress page, the Library of Micro-Credentials and the admin's catalog, as people see them.

Chromium, the tool in a cross-site LMS iframe, third-party cookies blocked; screenshots in build/screenshots/.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.browser.conftest import assert_accessible, frame_ltik, launch_in_lms, screenshot_frame, tool_frame
from tests.factories import bring_work_to
from tests.platform.platform import INSTITUTION_ROLE, LTI, ROLE

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("running_term")]

SLUG = "self-assessment-growth"
OTHER_SLUG = "feedback-to-promote-learning"
TITLE = "Educator Self-Assessment and Professional Growth"
COURSE = "course-1"
ACTIVITY = "activity-progress"
LEARNER = [ROLE + "Learner"]

# sub, given name, family name, email, what they did (None: nothing, not even enrolled)
EDUCATORS = [
    ("user-learner-1", "Ada", "Lovelace", "ada@school.example", "draft"),
    ("edu-brook", "Brook", "Banda", "brook@school.example", "submitted"),
    ("edu-chen", "Chen", "Cho", "chen@school.example", "submitted"),
    ("edu-dara", "Dara", "Diaz", "dara@school.example", "draft"),
    ("edu-eve", "Eve", "Evans", "eve@school.example", None),
    ("edu-finn", "Finn", "Fox", "finn@school.example", "new"),
]


def _member(sub, given, family, email, roles=LEARNER):
    return {"user_id": sub, "name": f"{given} {family}", "given_name": given, "family_name": family,
            "email": email, "roles": roles, "status": "Active"}


ROSTER = [_member(*educator[:4]) for educator in EDUCATORS] + [
    _member("user-instructor-1", "Grace", "Hopper", "grace@school.example", roles=[ROLE + "Instructor"]),
]


def _launch(page, lms, person, **plan):
    return launch_in_lms(page, lms, person, **plan)


def _do_work(app, sub, step, at):
    bring_work_to(app, sub, step, at, course=COURSE, activity=ACTIVITY, slug=SLUG)


def _rows(frame) -> dict[str, str]:
    rows = frame.locator("tbody tr")
    return {rows.nth(i).locator("td").first.inner_text(): rows.nth(i).get_attribute("data-state")
            for i in range(rows.count())}


def test_an_instructor_follows_the_course_filters_refreshes_and_exports(app, lms, page, catalog):
    from lti_tool.core.models import utcnow

    lms.services.add_members(COURSE, ROSTER)
    frame = _launch(page, lms, "instructor", custom={"microcredential": SLUG}, resource_link_id=ACTIVITY,
                    context_id=COURSE)
    frame.get_by_role("heading", name="Progress of your educators").wait_for(timeout=15000)
    assert "/progress/" in tool_frame(page).url  # a bound activity: the instructor lands on the course's progress

    # the first refresh brings the roster in; then the educators do their work
    frame.get_by_role("button", name="Refresh roster from the LMS").click()
    frame.locator(".notice[role=status]").filter(has_text="Roster refreshed").wait_for(timeout=15000)
    now = utcnow() - timedelta(days=2)
    for position, (sub, *_, step) in enumerate(EDUCATORS):
        if step is not None:
            _do_work(app, sub, step, now + timedelta(hours=position))

    tool_frame(page).goto(f"{lms.tool_origin}/progress/?ltik={frame_ltik(page)}")
    frame.locator("tbody tr").first.wait_for(timeout=15000)
    assert _rows(frame) == {
        "Ada Lovelace": "draft", "Brook Banda": "submitted", "Chen Cho": "submitted", "Dara Diaz": "draft",
        "Eve Evans": "not_started", "Finn Fox": "not_started",
    }
    assert "Grace Hopper" not in frame.locator("table").inner_text()
    csv = frame.get_by_role("link", name="Download as CSV")
    assert "/progress/" in csv.get_attribute("href") and csv.get_attribute("download") is not None
    screenshot_frame(page, frame, "progress-1-course")
    assert_accessible(frame, "progress-1-course")

    # a state's count is a filter link: the table narrows to that state
    frame.locator('.counts a[data-state="submitted"]').click()
    frame.locator("caption").filter(has_text="2 educators").wait_for(timeout=15000)
    assert _rows(frame) == {"Brook Banda": "submitted", "Chen Cho": "submitted"}
    assert frame.locator('.counts a[data-state="submitted"]').get_attribute("aria-current") == "true"
    assert "status=submitted" in csv.get_attribute("href")  # the CSV follows the filter
    screenshot_frame(page, frame, "progress-2-filtered-submitted")
    assert_accessible(frame, "progress-2-filtered-submitted")

    # refreshing the roster again says so, and keeps the page working
    frame.get_by_role("button", name="Refresh roster from the LMS").click()
    notice = frame.locator(".notice[role=status]").filter(has_text="Roster refreshed")
    notice.wait_for(timeout=15000)
    assert f"{len(ROSTER)} members" in notice.inner_text()
    assert frame.locator("tbody tr").count() == len(EDUCATORS)
    screenshot_frame(page, frame, "progress-3-refreshed")
    assert_accessible(frame, "progress-3-refreshed")


def test_a_learner_opens_the_library_and_a_micro_credentials_rubric(app, lms, page, catalog):
    frame = _launch(page, lms, "learner", custom={"microcredential": SLUG}, resource_link_id="activity-mc")
    frame.locator("#status-heading").wait_for(timeout=15000)
    frame.get_by_role("navigation", name="Tool").get_by_role("link", name="Library of Micro-Credentials").click()
    frame.get_by_role("heading", name="Library of Micro-Credentials").wait_for(timeout=15000)
    cards = frame.locator("article.card")
    assert cards.count() == 2
    assert TITLE in frame.locator("main").inner_text()
    screenshot_frame(page, frame, "catalog-1-library")
    assert_accessible(frame, "catalog-1-library")

    frame.get_by_role("link", name=TITLE).click()
    frame.get_by_role("heading", name="Rubric").wait_for(timeout=15000)
    assert frame.get_by_role("heading", level=1).inner_text() == TITLE
    rubric = frame.locator("table").filter(has=frame.locator("caption", has_text="Every criterion must reach"))
    assert rubric.locator("tbody tr").count() >= 3  # a criterion per row
    assert rubric.locator("thead th").count() >= 3  # the criterion column and the levels
    assert rubric.locator("th.required-level").count() == 1
    screenshot_frame(page, frame, "catalog-2-detail-rubric")
    assert_accessible(frame, "catalog-2-detail-rubric")

    frame.get_by_role("main").get_by_role("link", name="Library of Micro-Credentials").click()  # and back
    frame.locator("article.card").first.wait_for(timeout=15000)


def test_an_admin_opens_the_administration_and_manages_the_catalog(app, lms, page, catalog):
    # an institution administrator without a course role; the activity is set up
    frame = _launch(page, lms, "admin", custom={"microcredential": SLUG}, resource_link_id="activity-admin",
                    claims={LTI + "roles": [INSTITUTION_ROLE + "Administrator"]})
    frame.get_by_role("heading", name="Welcome", exact=False).wait_for(timeout=15000)
    screenshot_frame(page, frame, "admin-1-home")
    assert_accessible(frame, "admin-1-home")
    frame.get_by_role("link", name="Registered platforms and deployments").click()

    frame.get_by_role("heading", name="Administration", exact=True).wait_for(timeout=15000)
    assert "Test LMS" in frame.locator("main").inner_text() or lms.issuer in frame.locator("main").inner_text()
    screenshot_frame(page, frame, "admin-2-index")
    assert_accessible(frame, "admin-2-index")
    frame.get_by_role("link", name="Manage the catalog").click()

    frame.get_by_role("heading", name="Manage the catalog").wait_for(timeout=15000)
    table = frame.locator("table").inner_text()
    assert TITLE in table and "Feedback" in table
    assert SLUG in table and OTHER_SLUG in table
    assert frame.locator("tbody tr").count() == 2
    screenshot_frame(page, frame, "admin-3-catalog")
    assert_accessible(frame, "admin-3-catalog")
