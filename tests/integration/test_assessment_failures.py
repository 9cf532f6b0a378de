"""Failure paths of assessment, one refusal per test: claims, stale saves, incomplete scorings, releases, the
LMS down, two people at once, reassignment and forged ids. Nothing lost, nothing sent twice, scores in order."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest

from tests.assessment_road import (
    all_levels,
    assessment_ids,
    at_once,
    form_fields,
    launch_assessor,
    open_assessment,
    release,
    score,
    submit_work,
)
from tests.integration.test_assessment_authorization import World
from tests.nothing_changed import nothing_changes

pytestmark = pytest.mark.usefixtures("running_term")

CRITERION = "accurate_self_assessment"
TITLE = "Accurate self-assessment"


def _drain(app) -> None:
    from lti_tool.gradebook.worker import run_once

    while run_once(app):
        pass


def _scorings(app, assessment_id: int) -> list[tuple[str, str, dict, dict, int]]:
    """(slot, assessor sub, levels, feedback, version) of each scoring."""
    from lti_tool.assessment.models import Scoring
    from lti_tool.extensions import db

    with app.app_context():
        return [(s.slot, s.assessor.sub, dict(s.levels), dict(s.feedback), s.version) for s in db.session.scalars(
            db.select(Scoring).where(Scoring.assessment_id == assessment_id).order_by(Scoring.id))]


def _events(app, assessment_id: int) -> list[str]:
    from lti_tool.assessment.models import AssessmentEvent
    from lti_tool.extensions import db

    with app.app_context():
        return list(db.session.scalars(db.select(AssessmentEvent.action).where(
            AssessmentEvent.assessment_id == assessment_id).order_by(AssessmentEvent.id)))


def _marking_status(app, assessment_id: int) -> str:
    from lti_tool.assessment.models import Assessment
    from lti_tool.extensions import db

    with app.app_context():
        return db.session.get(Assessment, assessment_id).attempt.marking_status


def _double_blind(app) -> None:
    World(app, None, None).set_microcredential(double_blind=True)


def _completed_scores(platform) -> list[dict]:
    return [s for s in platform.services.scores_for() if s["activityProgress"] == "Completed"]


@pytest.fixture
def submitted(app, platform):
    submit_work(platform)
    (assessment_id,) = assessment_ids(app)
    return assessment_id


# -- claims ---------------------------------------------------------------------------------------------------
def test_opening_work_another_assessor_holds_is_refused_and_changes_nothing(app, platform, submitted):
    holder = launch_assessor(platform, "assessor")
    assert open_assessment(holder, submitted).status_code == 200
    before = (_scorings(app, submitted), _events(app, submitted))

    second = launch_assessor(platform, "assessor-2")
    with nothing_changes(app):  # opening claims work: not work another assessor holds
        refused = open_assessment(second, submitted)

    assert refused.status_code == 409
    assert "is being scored by another assessor (claimed until" in refused.text
    assert 'id="scoring-form"' not in refused.text
    assert (_scorings(app, submitted), _events(app, submitted)) == before


def test_a_claim_that_ran_out_is_taken_over_and_logged(app, platform, submitted):
    from lti_tool.assessment.models import Scoring
    from lti_tool.core.models import utcnow
    from lti_tool.extensions import db

    holder = launch_assessor(platform, "assessor")
    score(holder, open_assessment(holder, submitted), {CRITERION: "developing"}, {CRITERION: "Kept draft."},
          action="save")
    with app.app_context():
        for scoring in db.session.scalars(db.select(Scoring)):
            scoring.claim_expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()

    taken = open_assessment(launch_assessor(platform, "assessor-2"), submitted)

    assert taken.status_code == 200 and 'id="scoring-form"' in taken.text
    assert "Kept draft." in taken.text  # the draft continues with its new assessor
    ((slot, sub, _, _, _),) = _scorings(app, submitted)
    assert (slot, sub) == ("first", "user-assessor-2")
    assert "claim taken over" in _events(app, submitted)


# -- saving ---------------------------------------------------------------------------------------------------
def test_a_stale_save_from_an_old_tab_is_refused_and_hands_the_text_back(app, platform, submitted):
    assessor = launch_assessor(platform)
    old_tab = open_assessment(assessor, submitted)
    new_tab = open_assessment(assessor, submitted)
    assert score(assessor, new_tab, {CRITERION: "demonstrated"}, {CRITERION: "Newer text."},
                 action="save").status_code == 200

    with nothing_changes(app):
        stale = score(assessor, old_tab, {CRITERION: "developing"}, {CRITERION: "Text typed in the old tab."},
                      action="save")

    assert stale.status_code == 409
    assert "changed in another tab or window" in stale.text
    assert "Text typed in the old tab.</textarea>" in stale.text
    assert re.search(rf'value="developing" checked|id="level-{CRITERION}-developing" value="developing" checked',
                     stale.text)
    ((_, _, levels, feedback, _),) = _scorings(app, submitted)
    assert (levels, feedback) == ({CRITERION: "demonstrated"}, {CRITERION: "Newer text."})


def test_completing_with_a_level_missing_is_refused_naming_the_criterion(app, platform, submitted):
    assessor = launch_assessor(platform)
    levels = all_levels(app, "demonstrated")
    del levels[CRITERION]
    page = open_assessment(assessor, submitted)

    with nothing_changes(app):
        refused = score(assessor, page, levels)

    assert refused.status_code == 400
    assert f"Choose a level for “{TITLE}”." in refused.text
    assert _marking_status(app, submitted) == "inmarking"


def test_completing_below_the_required_level_without_feedback_is_refused_naming_the_criterion(app, platform,
                                                                                                submitted):
    assessor = launch_assessor(platform)
    page = open_assessment(assessor, submitted)

    with nothing_changes(app):
        refused = score(assessor, page, all_levels(app, "demonstrated", **{CRITERION: "developing"}))

    assert refused.status_code == 400
    assert f"Write feedback for “{TITLE}”: it is below the required level." in refused.text
    assert _marking_status(app, submitted) == "inmarking"


def test_an_unknown_level_is_refused(app, platform, submitted):
    assessor = launch_assessor(platform)
    page = open_assessment(assessor, submitted)

    with nothing_changes(app):
        refused = score(assessor, page, all_levels(app, "demonstrated", **{CRITERION: "outstanding"}),
                        {CRITERION: "Keep this text."})

    assert refused.status_code == 400
    assert f"“outstanding” is not a level of this rubric (criterion “{TITLE}”)." in refused.text
    assert "Keep this text.</textarea>" in refused.text
    ((_, _, levels, _, _),) = _scorings(app, submitted)
    assert levels == {}


# -- releasing ------------------------------------------------------------------------------------------------
def test_a_release_before_the_decision_is_refused(app, platform, submitted):
    assessor = launch_assessor(platform)
    open_assessment(assessor, submitted)

    with nothing_changes(app):
        refused = release(assessor, submitted)

    assert refused.status_code == 409
    assert "cannot be released. It is “In marking” now." in refused.text
    assert _marking_status(app, submitted) == "inmarking"


def test_a_double_release_is_refused_and_the_lms_receives_one_completed_score(app, platform, submitted):
    assessor = launch_assessor(platform)
    score(assessor, open_assessment(assessor, submitted), all_levels(app, "demonstrated"))
    assert release(assessor, submitted, follow=False).status_code == 303

    with nothing_changes(app):  # the outbox too: no second score queued
        again = release(assessor, submitted)

    assert again.status_code == 409
    assert "It is “Released” now." in again.text
    _drain(app)
    assert len(_completed_scores(platform)) == 1
    assert _events(app, submitted).count("released") == 1


def test_a_release_while_the_lms_is_down_waits_in_the_outbox_and_arrives_after_submitted(app, platform, submitted):
    assessor = launch_assessor(platform)
    score(assessor, open_assessment(assessor, submitted), all_levels(app, "demonstrated"))
    platform.services.fail_next("/lineitems", status=503, count=3)

    released = release(assessor, submitted)
    assert released.status_code == 200 and "Released" in released.text
    assert _marking_status(app, submitted) == "released"
    from lti_tool.gradebook.worker import run_once

    run_once(app)
    assert _completed_scores(platform) == []  # the LMS said 503: the score waits

    deadline = time.monotonic() + 15
    while not _completed_scores(platform) and time.monotonic() < deadline:
        run_once(app)
        time.sleep(0.1)
    progress = [s["activityProgress"] for s in platform.services.scores_for()]
    assert progress.count("Completed") == 1
    assert progress.index("Submitted") < progress.index("Completed")
    assert progress[-1] == "Completed"


def test_scores_reach_the_lms_in_the_order_of_events(app, platform, submitted):
    assessor = launch_assessor(platform)
    score(assessor, open_assessment(assessor, submitted), all_levels(app, "demonstrated"))
    release(assessor, submitted)

    _drain(app)

    scores = platform.services.scores_for()
    assert [s["activityProgress"] for s in scores] == ["InProgress", "Submitted", "Completed"]
    assert [s["timestamp"] for s in scores] == sorted(s["timestamp"] for s in scores)
    assert scores[-1]["gradingProgress"] == "FullyGraded"


def test_a_release_during_a_save_refuses_the_save_and_hands_the_text_back(app, platform, submitted):
    assessor = launch_assessor(platform)
    open_tab = open_assessment(assessor, submitted)
    score(assessor, open_assessment(assessor, submitted), all_levels(app, "demonstrated"))
    release(launch_assessor(platform, "assessor-2"), submitted)

    with nothing_changes(app):
        late = score(assessor, open_tab, {CRITERION: "developing"}, {CRITERION: "Typed while it was released."},
                     action="save")

    assert late.status_code == 409
    assert "Released" in late.text
    assert "Typed while it was released.</textarea>" in late.text
    ((_, _, levels, feedback, _),) = _scorings(app, submitted)
    assert levels[CRITERION] == "demonstrated" and feedback == {}


# -- two people at once -----------------------------------------------------------------------------------------
def test_two_assessors_saving_at_once_in_double_blind_both_keep_their_own_slot(app, platform):
    _double_blind(app)
    submit_work(platform)
    (assessment_id,) = assessment_ids(app)
    first, second = launch_assessor(platform, "assessor"), launch_assessor(platform, "assessor-2")
    first_page, second_page = open_assessment(first, assessment_id), open_assessment(second, assessment_id)

    answers = at_once(
        lambda: score(first, first_page, {CRITERION: "developing"}, {CRITERION: "First's text."}, action="save"),
        lambda: score(second, second_page, {CRITERION: "demonstrated"}, {CRITERION: "Second's text."},
                      action="save"))

    assert [a.status_code for a in answers] == [200, 200]
    slots = {slot: (sub, feedback) for slot, sub, _, feedback, _ in _scorings(app, assessment_id)}
    assert slots == {"first": ("user-assessor-1", {CRITERION: "First's text."}),
                     "second": ("user-assessor-2", {CRITERION: "Second's text."})}


def test_two_tabs_saving_one_scoring_at_once_one_wins_and_the_other_gets_its_text_back(app, platform, submitted):
    assessor = launch_assessor(platform)
    page = open_assessment(assessor, submitted)  # two tabs showing the same version of the scoring

    answers = at_once(
        lambda: score(assessor, page, {CRITERION: "developing"}, {CRITERION: "Text A."}, action="save"),
        lambda: score(assessor, page, {CRITERION: "demonstrated"}, {CRITERION: "Text B."}, action="save"))

    assert sorted(a.status_code for a in answers) == [200, 409]
    winner, loser = ("A", "B") if answers[0].status_code == 200 else ("B", "A")
    assert f"Text {loser}.</textarea>" in next(a for a in answers if a.status_code == 409).text
    ((_, _, _, feedback, _),) = _scorings(app, submitted)
    assert feedback == {CRITERION: f"Text {winner}."}


# -- admins and forged ids ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("who", ["learner", "learner-2", "instructor"])
def test_reassigning_to_someone_not_allowed_to_assess_is_refused(app, platform, submitted, who):
    world = World(app, platform, None)
    world.launch(who)  # known to the tool, with a membership in the course, but no assessor duty
    admin = world.launch("admin")

    with nothing_changes(app):
        refused = admin.browser.post(f"{admin.tool}/assessment/{submitted}/reassign",
                                     data={"ltik": admin.ltik, "assessor_id": str(world.user_id(who))})

    assert refused.status_code == 400
    assert "Choose one of the listed assessors." in refused.text
    assert "reassigned" not in _events(app, submitted)


def test_a_scoring_id_of_another_assessment_is_not_found(app, platform):
    submit_work(platform, person="learner")
    submit_work(platform, person="learner-2")
    first_id, other_id = assessment_ids(app)
    assessor = launch_assessor(platform)
    open_assessment(assessor, first_id)
    other_page = open_assessment(assessor, other_id)
    other = form_fields(other_page, "scoring-form")

    with nothing_changes(app):
        refused = assessor.browser.post(f"{assessor.tool}/assessment/{first_id}", data={
            "ltik": assessor.ltik, "action": "save", "scoring_id": other["scoring_id"], "version": other["version"],
            f"feedback-{CRITERION}": "Aimed at the wrong submission."})

    assert refused.status_code == 404
    assert "That scoring was not found." in refused.text
    assert all(feedback == {} for *_, feedback, _ in _scorings(app, other_id))


def test_a_bulk_release_of_ready_and_not_ready_work_releases_the_ready_and_names_the_skipped(app, platform):
    from lti_tool.assessment.models import Assessment
    from lti_tool.extensions import db

    submit_work(platform, person="learner")
    submit_work(platform, person="learner-2")
    ready_id, open_id = assessment_ids(app)
    assessor = launch_assessor(platform)
    score(assessor, open_assessment(assessor, ready_id), all_levels(app, "demonstrated"))
    open_assessment(assessor, open_id)
    with app.app_context():
        open_label = db.session.get(Assessment, open_id).label

    answer = assessor.browser.post(f"{assessor.tool}/assessment/release", data={
        "ltik": assessor.ltik, "assessment_id": [str(ready_id), str(open_id)]})

    assert answer.status_code == 200
    assert "Released: the educator and the LMS gradebook now have the outcome." in answer.text
    assert re.search(rf'id="skipped".*{re.escape(open_label)}: .*cannot be released', answer.text, re.DOTALL)
    assert (_marking_status(app, ready_id), _marking_status(app, open_id)) == ("released", "inmarking")
    _drain(app)
    assert len(_completed_scores(platform)) == 1
