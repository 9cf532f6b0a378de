"""The assessment road end to end: submit → the assessor's queue → blind scoring → release → the LMS gradebook."""

from __future__ import annotations

import pytest

from tests.assessment_road import (
    all_levels,
    assessment_ids,
    launch_assessor,
    open_assessment,
    release,
    score,
    submit_work,
)
from tests.nothing_changed import nothing_changes

pytestmark = pytest.mark.usefixtures("running_term")


def _send_outbox(app):
    from lti_tool.gradebook.worker import run_once

    while run_once(app):
        pass


def test_an_earned_decision_reaches_the_educator_and_the_lms_gradebook_only_at_release(app, platform):
    submitted = submit_work(platform)
    (assessment_id,) = assessment_ids(app)
    assessor = launch_assessor(platform)
    assert f'data-assessment-id="{assessment_id}"' in assessor.queue.text
    assert "Needs an assessor" in assessor.queue.text

    page = open_assessment(assessor, assessment_id)
    assert page.status_code == 200, page.text[:800]
    assert "In marking" in page.text
    completed = score(assessor, page, all_levels(app, "demonstrated"))
    assert completed.status_code == 200, completed.text[:800]
    assert "Ready for release" in completed.text

    _send_outbox(app)
    progress = [s["gradingProgress"] for s in platform.services.scores_for()]
    assert "FullyGraded" not in progress  # nothing leaves before release

    released = release(assessor, assessment_id)
    assert released.status_code == 200 and "Released" in released.text
    _send_outbox(app)
    final = platform.services.scores_for()[-1]
    assert (final["activityProgress"], final["gradingProgress"]) == ("Completed", "FullyGraded")
    assert final["scoreGiven"] == final["scoreMaximum"]
    assert final["comment"].startswith("Earned.")

    educator_page = submitted.browser.get(submitted.page.url)
    assert "Earned" in educator_page.text


def test_a_not_yet_scores_below_any_earned_and_needs_feedback_below_the_required_level(app, platform):
    submit_work(platform)
    (assessment_id,) = assessment_ids(app)
    assessor = launch_assessor(platform)
    page = open_assessment(assessor, assessment_id)
    levels = all_levels(app, "demonstrated", accurate_self_assessment="developing")

    with nothing_changes(app):
        refused = score(assessor, page, levels)
    assert refused.status_code == 400
    assert "Write feedback for “Accurate self-assessment”" in refused.text

    page = open_assessment(assessor, assessment_id)
    done = score(assessor, page, levels, {"accurate_self_assessment": "Name the standard you used."})
    assert done.status_code == 200, done.text[:500]
    release(assessor, assessment_id)
    _send_outbox(app)
    final = platform.services.scores_for()[-1]
    assert final["scoreGiven"] < final["scoreMaximum"]
    assert final["comment"].startswith("Not yet.")
