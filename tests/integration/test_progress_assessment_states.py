"""The instructor's progress view once assessment exists: its states, due dates, and the grades the LMS holds.

Through real HTTP from the independent test platform. The educators' work is made with the submission services
and assessed with the assessment services (claim, complete, release); released scores reach the platform's
gradebook through the tool's outbox, and a test then changes one by hand in the LMS, as a teacher would.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta
from html import unescape

import pytest

from lti_tool.core.models import utcnow
from lti_tool.extensions import db
from tests.factories import assess_work, bring_work_to, resubmit_work
from tests.platform.platform import ROLE

SLUG = "self-assessment-growth"
COURSE = "course-1"
ACTIVITY = "activity-1"


def _member(sub, name, roles=(ROLE + "Learner",)):
    given, _, family = name.partition(" ")
    return {"user_id": sub, "name": name, "given_name": given, "family_name": family,
            "email": f"{given.lower()}@school.example", "roles": list(roles), "status": "Active"}


ROSTER = [
    _member("edu-dan", "Dan Draft"),
    _member("edu-sam", "Sam Submitted"),
    _member("edu-ole", "Ole Overdue"),
    _member("edu-ivy", "Ivy Inmarking"),
    _member("edu-rae", "Rae Ready"),
    _member("edu-ed", "Ed Earned"),
    _member("edu-nia", "Nia Notyet"),
    _member("edu-res", "Res Resubmitted"),
    _member("user-assessor-1", "Alan Turing", roles=(ROLE + "Instructor/TeachingAssistant",)),
    _member("user-assessor-2", "Dorothy Vaughan", roles=(ROLE + "Mentor",)),
]
EXPECTED = {  # name: (state, flags)
    "Dan Draft": ("draft", set()),
    "Sam Submitted": ("submitted", set()),
    "Ole Overdue": ("submitted", {"overdue"}),
    "Ivy Inmarking": ("in_assessment", set()),
    "Rae Ready": ("in_assessment", set()),
    "Ed Earned": ("earned", {"released"}),
    "Nia Notyet": ("not_yet", {"released"}),
    "Res Resubmitted": ("submitted", {"resubmitted"}),
}


def _send_outbox(app) -> None:
    """Run the outbox worker until nothing is left to send (the line item is created on the first send)."""
    from lti_tool.gradebook.models import OutboxMessage
    from lti_tool.gradebook.worker import run_once

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        run_once(app)
        with app.app_context():
            waiting = db.session.scalar(db.select(db.func.count(OutboxMessage.id))
                                        .where(OutboxMessage.status.in_(("pending", "sending"))))
        if not waiting:
            return
        time.sleep(0.05)
    raise AssertionError("the outbox did not empty")


@pytest.fixture
def course(app, platform, browser, term_opened_long_ago):
    """Educators in every state and flag; released scores sent to the LMS."""
    platform.services.default_page_size = 100
    platform.services.add_members(COURSE, ROSTER)
    page = browser.launch(person="instructor", custom={"microcredential": SLUG}, resource_link_id=ACTIVITY,
                          context_id=COURSE)
    assert page.status_code == 200, page.text[:500]
    assert browser.submit_form(page.response).status_code == 200  # the roster, read from the LMS

    recently, long_ago = utcnow() - timedelta(days=1), utcnow() - timedelta(days=40)

    def work(sub, step, at=recently):
        bring_work_to(app, sub, step, at, course=COURSE, activity=ACTIVITY, slug=SLUG)

    work("edu-dan", "draft")
    for sub in ("edu-sam", "edu-ivy", "edu-rae", "edu-ed", "edu-nia"):
        work(sub, "submitted")
    work("edu-ole", "submitted", at=long_ago)
    work("edu-res", "submitted", at=long_ago)
    _open_assessments(app)
    _send_outbox(app)  # the line item is created in the LMS with the first score
    now = utcnow()
    _claim(app, "edu-ivy", now)
    assess_work(app, "edu-rae", "earned", now)  # complete, not released: ready for release
    assess_work(app, "edu-ed", "earned", now, release_at=now)
    assess_work(app, "edu-nia", "notyet", now, release_at=now)
    assess_work(app, "edu-res", "notyet", long_ago + timedelta(days=3), release_at=long_ago + timedelta(days=3))
    resubmit_work(app, "edu-res", recently)
    _open_assessments(app)
    _send_outbox(app)
    return page


def _open_assessments(app):
    """Every submitted attempt enters assessment (what the receiver of `attempt_submitted` does, where it is
    connected; here for an app where it is not)."""
    from lti_tool.assessment import services
    from lti_tool.assessment.models import Assessment
    from lti_tool.submissions.models import Attempt

    with app.app_context():
        waiting = db.session.scalars(
            db.select(Attempt).outerjoin(Assessment, Assessment.attempt_id == Attempt.id)
            .where(Attempt.status == "submitted", Assessment.id.is_(None)))
        for attempt in list(waiting):
            services.open_assessment(attempt, now=attempt.submitted_at)
        db.session.commit()


def _claim(app, sub, now):
    """An assessor opens the submission to score it (`inmarking`)."""
    from lti_tool.assessment import services
    from lti_tool.assessment.models import Assessment
    from lti_tool.lti.models import LtiUser
    from lti_tool.submissions.models import Attempt, Enrollment

    with app.app_context():
        attempt = db.session.scalar(db.select(Attempt).join(Enrollment).join(LtiUser, LtiUser.id == Enrollment.user_id)
                                    .where(LtiUser.sub == sub))
        assessment = db.session.scalar(db.select(Assessment).where(Assessment.attempt_id == attempt.id)) \
            or services.open_assessment(attempt, now=attempt.submitted_at)
        assessor = db.session.scalar(db.select(LtiUser).where(LtiUser.sub == "user-assessor-1"))
        services.claim_scoring(assessment, assessor.id, now=now)
        db.session.commit()


def _get(browser, live_tool, ltik, **params):
    return browser.get(live_tool.url + "/progress/", params={"ltik": ltik, **params})


ROW = re.compile(r'<tr data-state="(\w+)">\s*<td>(.*?)</td>(.*?)</tr>', re.S)
COUNT = re.compile(r'data-(state|flag)="(\w+)"[^>]*><span class="n">(\d+)</span>')


def _rows(html: str) -> dict[str, tuple[str, set[str], str]]:
    return {unescape(name): (state, set(re.findall(r'data-row-flag="(\w+)"', rest)), rest)
            for state, name, rest in ROW.findall(html)}


def _counts(html: str) -> dict[str, int]:
    return {name: int(n) for _, name, n in COUNT.findall(html)}


def test_every_state_and_flag_shows_on_its_row_and_is_counted(browser, live_tool, course):
    page = _get(browser, live_tool, course.ltik)
    assert page.status_code == 200, page.text[:500]
    rows = _rows(page.text)
    assert {name: (state, flags) for name, (state, flags, _) in rows.items()} == EXPECTED
    assert _counts(page.text) == {
        "not_started": 0, "draft": 1, "submitted": 3, "in_assessment": 2, "earned": 1, "not_yet": 1,
        "released": 2, "overdue": 1, "resubmitted": 1,
    }
    assert "Alan Turing" not in page.text and "Dorothy Vaughan" not in page.text  # never an assessor's identity


@pytest.mark.parametrize(("status", "names"), [
    ("in_assessment", {"Ivy Inmarking", "Rae Ready"}),
    ("earned", {"Ed Earned"}),
    ("not_yet", {"Nia Notyet"}),
    ("released", {"Ed Earned", "Nia Notyet"}),
    ("overdue", {"Ole Overdue"}),
    ("resubmitted", {"Res Resubmitted"}),
    ("submitted", {"Sam Submitted", "Ole Overdue", "Res Resubmitted"}),
])
def test_filter_by_state_or_flag(browser, live_tool, course, status, names):
    page = _get(browser, live_tool, course.ltik, status=status)
    assert page.status_code == 200
    assert set(_rows(page.text)) == names
    assert re.search(rf'data-(state|flag)="{status}" aria-current="true"', page.text)


def test_the_assessment_due_date_is_shown_and_overdue_work_is_marked(app, browser, live_tool, course):
    from lti_tool.assessment.models import Assessment
    from lti_tool.lti.models import LtiUser
    from lti_tool.submissions.models import Attempt, Enrollment

    with app.app_context():
        due = db.session.scalar(
            db.select(Assessment.due_at).join(Attempt, Attempt.id == Assessment.attempt_id).join(Enrollment)
            .join(LtiUser, LtiUser.id == Enrollment.user_id).where(LtiUser.sub == "edu-ole"))
    rows = _rows(_get(browser, live_tool, course.ltik).text)
    ole = rows["Ole Overdue"][2]
    shown = re.findall(r'<time datetime="([^"]+)"', ole)  # ISO 8601 in the term's zone (core/dates)
    assert due in [datetime.fromisoformat(moment) for moment in shown]
    assert "Overdue" in ole
    assert "<time" not in rows["Dan Draft"][2]  # nothing submitted, nothing due


def test_the_grade_the_lms_holds_is_shown_and_a_hand_change_is_flagged(app, browser, live_tool, course, platform):
    from lti_tool.lti.models import LineItem

    with app.app_context():
        line_item_url = db.session.scalar(db.select(LineItem.url))
    results = platform.services.results_for(line_item_url)
    maximum = results["edu-nia"]["resultMaximum"]
    nia_score = results["edu-nia"]["resultScore"]
    assert results["edu-ed"]["resultScore"] == maximum  # what the tool released
    platform.services.set_result_by_hand(line_item_url, "edu-ed", maximum / 2)  # a teacher overrides it

    rows = _rows(_get(browser, live_tool, course.ltik).text)
    ed, nia, sam = rows["Ed Earned"][2], rows["Nia Notyet"][2], rows["Sam Submitted"][2]
    assert f'data-lms-score="{maximum / 2:g}"' in ed and f'data-released-score="{maximum:g}"' in ed
    assert "changed in the gradebook" in ed
    assert f'data-lms-score="{nia_score:g}"' in nia and "changed in the gradebook" not in nia
    assert "changed in the gradebook" not in sam and "data-released-score" not in sam


def test_the_lms_is_asked_once_per_page_view_and_not_again_within_a_minute(browser, live_tool, course, platform):
    before = platform.services.requests_count("/results")
    assert _get(browser, live_tool, course.ltik).status_code == 200
    assert platform.services.requests_count("/results") == before + 1
    assert _get(browser, live_tool, course.ltik, status="earned").status_code == 200
    assert platform.services.requests_count("/results") == before + 1  # read a moment ago: from the cache


def test_an_lms_that_is_down_does_not_break_the_page(browser, live_tool, course, platform):
    platform.services.fail_next("/lineitems", status=503, count=10)
    page = _get(browser, live_tool, course.ltik)
    assert page.status_code == 200
    assert "LMS grades unavailable right now" in page.text
    assert {name: state for name, (state, _, _) in _rows(page.text).items()} == {
        name: state for name, (state, _) in EXPECTED.items()}
    assert "data-lms-score" not in page.text
    again = _get(browser, live_tool, course.ltik)  # not asked again at once: each try may wait for a timeout
    assert again.status_code == 200 and "LMS grades unavailable right now" in again.text
