"""Where scores go, through real HTTP from the independent test platform: every placement the person opened.

- the same micro-credential placed twice in one course shares one enrollment; a draft, a submission and a release
  reach the column of each placement the educator launched from (one outbox message each, in order per placement);
  a placement they never opened, another micro-credential, or another course gets nothing;
- every resource link a person launches from is recorded, also when a launch of the same person was recorded
  moments ago (the short launch path), and the short path writes nothing when nothing is new;
- progress-only scores (no scoreGiven) are accepted by a Moodle-like platform with 200 and leave an empty grade;
  the release fills the column against its own maximum (100 for the columns the tool declares or creates);
- a platform known to refuse progress-only scores gets none queued: only the final score.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.assessment_road import (
    SLUG,
    all_levels,
    assessment_ids,
    launch_assessor,
    open_assessment,
    release,
    score,
    submit_work,
)
from tests.platform.browser import PlatformBrowser

pytestmark = pytest.mark.usefixtures("running_term")

OTHER_SLUG = "feedback-to-promote-learning"
TITLE = "Educator Self-Assessment and Professional Growth"
EDUCATOR = "user-learner-1"


def _send_outbox(app):
    from lti_tool.gradebook.worker import run_once

    while run_once(app):
        pass


def _launch(platform, person="learner", slug=SLUG, **plan):
    result = PlatformBrowser(platform).launch(person=person, custom={"microcredential": slug}, **plan)
    assert result.status_code == 200, result.text[:500]
    return result


def _columns(platform) -> dict[str, str]:
    """The platform's gradebook columns by the resource link they belong to: resourceLinkId -> line item id."""
    return {item["data"].get("resourceLinkId"): item_id for item_id, item in platform.services.line_items.items()}


def _progress(platform, item_id) -> list[tuple[str, str]]:
    return [(s["activityProgress"], s["gradingProgress"]) for s in platform.services.scores_for(item_id)]


def _release_with(app, platform, levels: dict, feedback: dict | None = None, **plan):
    (assessment_id,) = assessment_ids(app)
    assessor = launch_assessor(platform, **plan)
    page = open_assessment(assessor, assessment_id)
    done = score(assessor, page, levels, feedback)
    assert done.status_code == 200, done.text[:500]
    released = release(assessor, assessment_id)
    assert released.status_code == 200, released.text[:500]


def _outbox(app) -> list[tuple[str, str, str]]:
    """Every outbox message: (the resource link's LMS id, activityProgress, status), in the order queued."""
    from lti_tool.extensions import db
    from lti_tool.gradebook.models import OutboxMessage
    from lti_tool.lti.models import ResourceLink

    with app.app_context():
        rows = db.session.execute(
            db.select(ResourceLink.resource_link_id, OutboxMessage.payload, OutboxMessage.status)
            .join(ResourceLink, ResourceLink.id == OutboxMessage.resource_link_id).order_by(OutboxMessage.id)
        ).all()
        return [(link, payload["activityProgress"], status) for link, payload, status in rows]


# -- the same micro-credential placed twice --------------------------------------------------------------------
def test_every_score_reaches_each_placement_the_educator_opened_and_no_other(app, platform):
    # the second placement's column was already in the LMS, out of 10: found by its resource link, it keeps that
    platform.services.add_line_item("course-1", label=TITLE, scoreMaximum=10, resourceLinkId="activity-2")
    _launch(platform, resource_link_id="activity-1")  # the enrollment is made here
    _launch(platform, slug=OTHER_SLUG, resource_link_id="activity-3")  # another micro-credential, same course
    _launch(platform, resource_link_id="activity-9", context_id="course-2")  # the same one in another course
    submit_work(platform, resource_link_id="activity-2")  # the draft and the submission, from the second placement
    _send_outbox(app)

    columns = _columns(platform)
    assert set(columns) == {"activity-1", "activity-2"}
    for link in ("activity-1", "activity-2"):
        assert _progress(platform, columns[link]) == [("InProgress", "NotReady"), ("Submitted", "PendingManual")]
        assert "resultScore" not in platform.services.results_for(columns[link])[EDUCATOR]  # no grade yet

    _release_with(app, platform, all_levels(app, "demonstrated"))
    _send_outbox(app)
    for link, maximum in (("activity-1", 100), ("activity-2", 10)):
        final = platform.services.scores_for(columns[link])[-1]
        assert (final["activityProgress"], final["gradingProgress"]) == ("Completed", "FullyGraded")
        assert (final["scoreGiven"], final["scoreMaximum"]) == (maximum, maximum)  # against each column's own
        assert final["comment"].startswith("Earned.")
        result = platform.services.results_for(columns[link])[EDUCATOR]
        assert (result["resultScore"], result["resultMaximum"]) == (maximum, maximum)
    assert set(_columns(platform)) == {"activity-1", "activity-2"}  # nothing for activity-3 or course-2
    # one message per placement and score, each placement's own in order, all sent
    assert sorted(_outbox(app)) == sorted(
        (link, progress, "sent") for link in ("activity-1", "activity-2")
        for progress in ("InProgress", "Submitted", "Completed"))
    stamps = {}
    for score_ in platform.services.scores_for():
        stamps.setdefault(score_["activityProgress"], set()).add(score_["timestamp"])
    assert all(len(times) == 1 for times in stamps.values())  # the copies of one score carry its one timestamp


def test_a_placement_the_educator_never_opened_gets_nothing(app, platform):
    other = platform.services.add_line_item("course-1", label=TITLE, scoreMaximum=100, resourceLinkId="activity-2")
    other_id = platform.services.item_id_of(other["id"])
    _launch(platform, person="instructor", resource_link_id="activity-2", lineitem=other_id)  # placed and known
    submit_work(platform, resource_link_id="activity-1")
    _release_with(app, platform, all_levels(app, "demonstrated"))
    _send_outbox(app)

    assert platform.services.scores_for(other_id) == []
    assert _progress(platform, _columns(platform)["activity-1"]) == [
        ("InProgress", "NotReady"), ("Submitted", "PendingManual"), ("Completed", "FullyGraded")]
    assert {link for link, _, _ in _outbox(app)} == {"activity-1"}


def test_a_placement_opened_after_the_release_gets_the_latest_score_at_once(app, platform):
    platform.services.add_line_item("course-1", label=TITLE, scoreMaximum=10, resourceLinkId="activity-2")
    submit_work(platform, resource_link_id="activity-1")
    _release_with(app, platform, all_levels(app, "demonstrated"))
    _send_outbox(app)
    columns = _columns(platform)
    final = platform.services.scores_for(columns["activity-1"])[-1]
    assert platform.services.scores_for(columns["activity-2"]) == []  # not opened yet: nothing there

    _launch(platform, resource_link_id="activity-2")  # the educator opens the second placement, after the release
    _launch(platform, resource_link_id="activity-2")  # and again: no second copy
    _send_outbox(app)

    copied = platform.services.scores_for(columns["activity-2"])
    assert len(copied) == 1
    assert (copied[0]["activityProgress"], copied[0]["gradingProgress"]) == ("Completed", "FullyGraded")
    # the column was not known to the tool when the score was copied: the share stated, the platform scales it
    assert copied[0]["scoreGiven"] == copied[0]["scoreMaximum"] == final["scoreMaximum"]
    assert copied[0]["timestamp"] == final["timestamp"]  # the score as it arose, not a newer one
    assert platform.services.results_for(columns["activity-2"])[EDUCATOR]["resultScore"] == 10
    assert [(link, progress) for link, progress, _ in _outbox(app)].count(("activity-2", "Completed")) == 1


# -- which resource links a person launched from -----------------------------------------------------------------
def _launches(app) -> dict[str, tuple]:
    """resource link id -> (first_launch_at, last_launch_at) of the educator's recorded launches."""
    from lti_tool.extensions import db
    from lti_tool.lti.models import LtiUser, ResourceLink, ResourceLinkLaunch

    with app.app_context():
        rows = db.session.execute(
            db.select(ResourceLink.resource_link_id, ResourceLinkLaunch.first_launch_at,
                      ResourceLinkLaunch.last_launch_at)
            .join(ResourceLink, ResourceLink.id == ResourceLinkLaunch.resource_link_id)
            .join(LtiUser, LtiUser.id == ResourceLinkLaunch.user_id).where(LtiUser.sub == EDUCATOR)
        ).all()
        return {link: (first, last) for link, first, last in rows}


def _writes_during(app, call) -> list[str]:
    from sqlalchemy import event

    from lti_tool.extensions import db

    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        if statement.lstrip().split(" ", 1)[0] in ("INSERT", "UPDATE", "DELETE"):
            seen.append(" ".join(statement.split()))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        call()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return seen


def _launch_only(platform, **plan) -> None:
    """The launch POST alone (its 303 not followed): what recording the launch writes, without the landing page."""
    browser = PlatformBrowser(platform)
    login, _ = platform.next_launch(person="learner", custom={"microcredential": SLUG}, **plan)
    answer = browser.post_launch(*browser.authorize(browser.start_login(login)), follow=False)
    assert answer.status_code == 303, answer.text[:500]


def test_a_new_resource_link_is_recorded_even_right_after_a_recorded_launch(app, platform, catalog):
    _launch(platform, resource_link_id="activity-1")
    assert _writes_during(app, lambda: _launch_only(platform, resource_link_id="activity-1")) == []  # short path
    assert set(_launches(app)) == {"activity-1"}

    _launch(platform, resource_link_id="activity-2")
    assert set(_launches(app)) == {"activity-1", "activity-2"}


def test_a_launch_record_lost_meanwhile_is_written_again_at_the_next_launch(app, platform, catalog):
    from lti_tool.extensions import db
    from lti_tool.lti.models import ResourceLinkLaunch

    _launch(platform, resource_link_id="activity-1")
    with app.app_context():
        db.session.execute(db.delete(ResourceLinkLaunch))
        db.session.commit()
    _launch(platform, resource_link_id="activity-1")  # claims seen moments ago, but the record is missing
    assert set(_launches(app)) == {"activity-1"}


def test_the_last_launch_is_refreshed_when_the_launch_is_recorded_in_full(app, platform, catalog):
    from lti_tool.extensions import cache, db
    from lti_tool.lti.models import ResourceLinkLaunch

    _launch(platform, resource_link_id="activity-1")
    with app.app_context():
        recorded = db.session.scalars(db.select(ResourceLinkLaunch)).one()
        recorded.first_launch_at -= timedelta(hours=1)
        recorded.last_launch_at -= timedelta(hours=1)
        db.session.commit()
    ((first, last),) = _launches(app).values()
    with app.app_context():
        cache.clear()  # LTI_IDENTITY_FRESH_SECONDS later: the claims are recorded in full again
    _launch(platform, resource_link_id="activity-1")
    ((first_again, last_again),) = _launches(app).values()
    assert first_again == first
    assert last_again > last + timedelta(minutes=59)


# -- progress-only scores, and the column's maximum ---------------------------------------------------------------
@pytest.mark.parametrize(("maximum", "named_by_launch", "met", "expected"), [
    (100, True, 4, 100),  # a column the tool declared by deep linking, named by the launch (Moodle)
    (100, True, 3, 75),
    (10, False, 3, 7.5),  # a column the LMS already had, found by its resource link: it keeps its maximum
], ids=["deep-linked-earned", "deep-linked-not-yet", "existing-column-not-yet"])
def test_progress_only_scores_leave_an_empty_grade_and_the_release_fills_the_column(
        app, platform, maximum, named_by_launch, met, expected):
    platform.services.score_accepted_status = 200  # as Moodle 4.5 answers a score
    item = platform.services.add_line_item("course-1", label=TITLE, scoreMaximum=maximum, resourceLinkId="activity-1")
    item_id = platform.services.item_id_of(item["id"])
    submit_work(platform, **({"lineitem": item_id} if named_by_launch else {}))
    _send_outbox(app)

    assert _progress(platform, item_id) == [("InProgress", "NotReady"), ("Submitted", "PendingManual")]
    assert all("scoreGiven" not in s for s in platform.services.scores_for(item_id))
    result = platform.services.results_for(item_id)[EDUCATOR]
    assert "resultScore" not in result and "resultMaximum" not in result  # "-" in the gradebook, as never opened
    assert [status for *_, status in _outbox(app)] == ["sent", "sent"]  # a 200 is an accepted score

    levels = all_levels(app, "demonstrated")
    feedback = {}
    if met < len(levels):
        levels["accurate_self_assessment"] = "developing"
        feedback = {"accurate_self_assessment": "Name the standard you used."}
    _release_with(app, platform, levels, feedback)
    _send_outbox(app)
    final = platform.services.scores_for(item_id)[-1]
    assert (final["scoreGiven"], final["scoreMaximum"]) == (expected, maximum)
    result = platform.services.results_for(item_id)[EDUCATOR]
    assert (result["resultScore"], result["resultMaximum"]) == (expected, maximum)


def test_a_platform_that_refuses_progress_only_scores_gets_only_the_final_score(app, platform):
    from lti_tool.core.models import utcnow
    from lti_tool.extensions import db
    from lti_tool.lti.models import Registration

    with app.app_context():
        db.session.execute(db.update(Registration).values(
            progress_scores_refused_at=utcnow(), progress_scores_refusal="scoreGiven and scoreMaximum are required"))
        db.session.commit()
    submit_work(platform)  # a draft, then a submission
    assert _outbox(app) == []

    _release_with(app, platform, all_levels(app, "demonstrated"))
    assert _outbox(app) == [("activity-1", "Completed", "pending")]
    _send_outbox(app)
    (final,) = platform.services.scores_for()
    assert (final["activityProgress"], final["scoreGiven"], final["scoreMaximum"]) == ("Completed", 100, 100)
