"""The admins' grade passback page inside the LMS iframe: a score retrying after the platform refused the tool, a
failure, and a platform that takes no progress-only scores (with the button that says it does again).

Chromium, the tool in a cross-site LMS iframe; the page is checked with axe-core and photographed to
build/screenshots/. The outbox is filled over real HTTP (the educator's draft) and by the worker against the
platform's services.
"""

from __future__ import annotations

from urllib.parse import urljoin

import pytest

from lti_tool.extensions import db
from lti_tool.gradebook import worker
from lti_tool.gradebook.services import enqueue_score
from lti_tool.lti.models import LtiUser, ResourceLink
from tests.browser.conftest import assert_accessible, frame_ltik, launch_in_lms, screenshot_frame, tool_frame
from tests.platform.browser import PlatformBrowser, forms_in

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("running_term")]

SLUG = "self-assessment-growth"
SCORES = "/lineitems/course-1/Item"


def _draft(lms, person: str) -> None:
    browser = PlatformBrowser(lms)
    launch = browser.launch(person=person, custom={"microcredential": SLUG})
    assert launch.status_code == 200, launch.text[:500]
    fields = {**forms_in(launch.text)[0]["fields"], "overview": "My plan", "reflection": "", "collaboration": "no",
              "collaborators": "", "action": "save"}
    assert browser.post(urljoin(launch.url, "/submission/"), data=fields).status_code == 200


def _final_score(app, sub: str) -> None:
    with app.app_context():
        link = db.session.scalar(db.select(ResourceLink))
        user = db.session.scalar(db.select(LtiUser).where(LtiUser.sub == sub))
        enqueue_score(link, user, "Completed", "FullyGraded", score_given=1)
        db.session.commit()


def test_the_outbox_page_shows_retrying_failed_and_refused_progress_scores(app, lms, page, catalog):
    services = lms.services
    services.refuse_progress_only = True
    _draft(lms, "learner")
    _draft(lms, "learner-2")
    while worker.run_once(app):
        pass
    _final_score(app, "user-learner-2")
    services.fail_next(SCORES, status=400, message="The user is not enrolled in this course")
    worker.run_once(app)
    _final_score(app, "user-learner-1")
    services.fail_next(SCORES, status=401, count=10**6, message="The access token is not valid any more")
    worker.run_once(app)

    frame = launch_in_lms(page, lms, "admin")
    frame.locator("h1").first.wait_for(timeout=15000)
    tool_frame(page).goto(f"{lms.tool_origin}/admin/outbox/?ltik={frame_ltik(page)}")
    frame.get_by_role("heading", name="Grade passback").wait_for(timeout=15000)
    assert "does not accept progress-only scores" in frame.locator("#progress-scores").inner_text()
    assert "retrying after HTTP 401" in frame.locator('tr[data-status="retrying"]').inner_text()
    assert "The user is not enrolled" in frame.locator("body").inner_text()
    assert_accessible(frame, "outbox page with refusals")
    screenshot_frame(page, tool_frame(page), "admin-outbox-refusals")

    frame.get_by_role("button", name="The LMS accepts them now: send progress-only scores again").click()
    frame.locator('td[data-status="declined"]').wait_for(timeout=15000)
    assert frame.locator("#progress-scores").count() == 0
    assert "#progress-scores" in tool_frame(page).url
    assert_accessible(frame, "outbox page after resuming progress scores")
