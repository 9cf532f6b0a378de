"""The whole road of a grade: a launch from the platform, a change queued in the outbox, the worker, the LMS."""

from __future__ import annotations

SLUG = "self-assessment-growth"



def _queue(app, activity, grading):
    from lti_tool.extensions import db
    from lti_tool.gradebook.services import enqueue_score
    from lti_tool.lti.models import LtiUser, ResourceLink

    with app.app_context():
        link = db.session.scalar(db.select(ResourceLink))
        user = db.session.scalar(db.select(LtiUser))
        enqueue_score(link, user, activity, grading)
        db.session.commit()


def test_a_queued_score_reaches_the_platform_gradebook_with_its_line_item(app, browser, platform, catalog):
    from lti_tool.gradebook.worker import run_once

    browser.launch(person="learner", custom={"microcredential": SLUG})
    _queue(app, "Submitted", "PendingManual")

    assert run_once(app) == 1
    (item,) = platform.services.line_items.values()
    assert item["data"]["resourceId"] == SLUG
    assert item["data"]["tag"] == "microcredential"
    assert item["data"]["label"] == "Educator Self-Assessment and Professional Growth"
    assert item["data"]["resourceLinkId"] == "activity-1"
    (score,) = platform.services.scores_for()
    assert score["userId"] == "user-learner-1"
    assert (score["activityProgress"], score["gradingProgress"]) == ("Submitted", "PendingManual")
    assert score["timestamp"]


def test_scores_wait_in_the_outbox_while_the_lms_is_down_and_arrive_in_order(app, browser, platform, catalog):
    import time

    from lti_tool.gradebook.worker import run_once

    browser.launch(person="learner", custom={"microcredential": SLUG})
    _queue(app, "InProgress", "NotReady")
    _queue(app, "Submitted", "PendingManual")
    platform.services.fail_next("/lineitems", status=503, count=1)

    run_once(app)
    assert platform.services.scores_for() == []
    deadline = time.monotonic() + 10
    while len(platform.services.scores_for()) < 2 and time.monotonic() < deadline:
        run_once(app)
        time.sleep(0.05)
    progress = [s["activityProgress"] for s in platform.services.scores_for()]
    assert progress == ["InProgress", "Submitted"]
