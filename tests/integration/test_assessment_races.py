"""What happens when assessors act at the same moment, or from a tab that fell behind: never a 500, never a leak,
never a submission stuck between states."""

from __future__ import annotations

import pytest

from tests.assessment_road import (
    all_levels,
    assessment_ids,
    at_once,
    form_fields,
    launch_assessor,
    open_assessment,
    score,
    set_microcredential,
    submit_work,
)
from tests.nothing_changed import nothing_changes
from tests.platform.browser import PlatformBrowser

pytestmark = pytest.mark.usefixtures("running_term")

FIRST_FEEDBACK = "Only the first assessor wrote this sentence."


def _state(app, assessment_id):
    from lti_tool.assessment.models import Assessment
    from lti_tool.extensions import db

    with app.app_context():
        return db.session.get(Assessment, assessment_id).attempt.marking_status


def test_a_refused_assessor_never_sees_the_first_independent_scoring(app, platform):
    set_microcredential(app, double_blind=True)
    submit_work(platform)
    (assessment_id,) = assessment_ids(app)
    first = launch_assessor(platform, "assessor")
    levels = all_levels(app, "demonstrated", accurate_self_assessment="developing")
    score(first, open_assessment(first, assessment_id), levels, {"accurate_self_assessment": FIRST_FEEDBACK})
    second = launch_assessor(platform, "assessor-2")
    assert open_assessment(second, assessment_id).status_code == 200  # holds the second slot now

    third = launch_assessor(platform, "assessor-3")
    with nothing_changes(app):
        refused = open_assessment(third, assessment_id)
    assert refused.status_code == 409
    assert FIRST_FEEDBACK not in refused.text
    assert "checked" not in refused.text


def test_two_independent_scorings_completed_at_the_same_moment_move_the_submission_on(app, platform):
    set_microcredential(app, double_blind=True)
    submit_work(platform)
    (assessment_id,) = assessment_ids(app)
    first, second = launch_assessor(platform, "assessor"), launch_assessor(platform, "assessor-2")
    pages = open_assessment(first, assessment_id), open_assessment(second, assessment_id)
    levels = all_levels(app, "demonstrated")

    results = at_once(lambda: score(first, pages[0], levels), lambda: score(second, pages[1], levels))

    assert [r.status_code for r in results] == [200, 200]
    assert _state(app, assessment_id) == "readyforrelease"


def test_two_assessors_opening_the_same_submission_at_once_get_one_slot_and_one_clear_refusal(app, platform):
    submit_work(platform)
    (assessment_id,) = assessment_ids(app)
    first, second = launch_assessor(platform, "assessor"), launch_assessor(platform, "assessor-2")

    results = at_once(lambda: open_assessment(first, assessment_id), lambda: open_assessment(second, assessment_id))

    assert sorted(r.status_code for r in results) == [200, 409]
    assert all("Something went wrong" not in r.text for r in results)


def test_a_tab_left_behind_after_a_reassignment_gets_its_feedback_back(app, platform):
    from lti_tool.extensions import db
    from lti_tool.lti.models import LtiUser

    submit_work(platform)
    (assessment_id,) = assessment_ids(app)
    first = launch_assessor(platform, "assessor")
    old_tab = open_assessment(first, assessment_id)
    launch_assessor(platform, "assessor-2")
    admin = PlatformBrowser(platform)
    landing = admin.launch(person="admin", custom={"microcredential": "self-assessment-growth"})
    tool = "/".join(landing.url.split("/", 3)[:3])
    with app.app_context():
        second_id = db.session.scalar(db.select(LtiUser.id).where(LtiUser.sub == "user-assessor-2"))
    moved = admin.post(f"{tool}/assessment/{assessment_id}/reassign",
                       data={"ltik": landing.ltik, "assessor_id": second_id})
    assert moved.status_code == 200

    with nothing_changes(app):
        refused = score(first, old_tab, {"accurate_self_assessment": "developing"},
                        {"accurate_self_assessment": "Text typed in the old tab."}, action="save")
    assert refused.status_code == 409
    assert "Text typed in the old tab." in refused.text
    assert form_fields(refused, "scoring-form") is not None
