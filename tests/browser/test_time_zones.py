"""The autosave message names the term's time zone, whatever the browser's own zone is (lti_tool/core/dates.py).

The browser runs in America/Los_Angeles, the term in Pacific/Auckland: the message must show the Auckland time
the server wrote, the same one the page's "Last modified" shows after a reload.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from lti_tool.extensions import db
from tests.browser.conftest import REPORT_CSP_VIOLATIONS, assert_accessible, screenshot_frame
from tests.conftest import FAR_ZONE

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("running_term")]

SLUG = "self-assessment-growth"
TERM_ZONE = FAR_ZONE
BROWSER_ZONE = "America/Los_Angeles"


@pytest.fixture
def far_page(chromium):
    """A page whose browser believes it is in Los Angeles."""
    context = chromium.new_context(viewport={"width": 1100, "height": 1000}, timezone_id=BROWSER_ZONE)
    context.add_init_script(REPORT_CSP_VIOLATIONS)
    page = context.new_page()
    yield page
    context.close()


def test_the_autosave_message_shows_the_terms_zone_not_the_browsers(app, lms, far_page, auckland_term):
    from lti_tool.submissions.models import Attempt

    page = far_page
    assert page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone") == BROWSER_ZONE
    login, _ = lms.next_launch(person="learner", custom={"microcredential": SLUG}, resource_link_id="activity-tz")
    page.goto(lms.course_page_url(login))
    page.wait_for_selector("iframe#tool")
    frame = page.frame_locator("iframe#tool")
    frame.locator("#status-heading").wait_for(timeout=15000)

    frame.locator("textarea[name=overview]").fill("Typed far from Auckland")
    status = frame.locator("#autosave-status")
    status.filter(has_text="Saved at").wait_for(timeout=10000)
    with app.app_context():
        moment = db.session.scalar(db.select(Attempt.content_changed_at).order_by(Attempt.id.desc()).limit(1))
    local = moment.astimezone(ZoneInfo(TERM_ZONE))
    assert status.inner_text() == f"Saved at {local:%-I:%M %p %Z} ({TERM_ZONE})"
    far = moment.astimezone(ZoneInfo(BROWSER_ZONE))
    assert f"{far:%-I:%M}" not in status.inner_text()  # not the browser's clock
    screenshot_frame(page, frame, "submission-autosave-term-zone")
    assert_accessible(frame, "submission-autosave-term-zone")
