"""The instructor's view of the course's progress, through real HTTP from the independent test platform.

The roster comes from the platform's NRPS endpoint; the educators' work is made with the tool's own services,
as the educator pages would make it.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest

from lti_tool.submissions import progress
from tests.factories import bring_work_to
from tests.nothing_changed import nothing_changes
from tests.platform.platform import ROLE

SLUG = "self-assessment-growth"
TITLE = "Educator Self-Assessment and Professional Growth"
COURSE = "course-1"
ACTIVITY = "activity-1"
LEARNER = [ROLE + "Learner"]
START = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)  # inside the sample term's enrollment window

# sub, given name, family name, email, what they did (None: nothing, not even enrolled)
EDUCATORS = [
    ("user-learner-1", "Ada", "Lovelace", "ada@school.example", "draft"),
    ("edu-brook", "Brook", "Banda", "brook@school.example", "submitted"),
    ("edu-chen", "Chen", "Cho", "chen@school.example", "inmarking"),
    ("edu-dara", "Dara", "Diaz", "dara@school.example", "released"),
    ("edu-eve", "Eve", "Evans", "eve@school.example", None),
    ("edu-finn", "Finn", "Fox", "finn@school.example", "new"),
    ("edu-gil", "Gil", "Gray", "gil@school.example", "reopened"),
    ("edu-formula", '=HYPERLINK("http://evil.example","x")', "", "@evil.example", None),
]
EXPECTED_STATES = {
    "Ada Lovelace": "draft",
    "Brook Banda": "submitted",
    "Chen Cho": "in_assessment",
    "Dara Diaz": "in_assessment",  # released, but the decision model is not there yet
    "Eve Evans": "not_started",
    "Finn Fox": "not_started",
    "Gil Gray": "draft",
    '=HYPERLINK("http://evil.example","x")': "not_started",
}


def _member(sub, given, family, email, roles=LEARNER, status="Active"):
    return {"user_id": sub, "name": f"{given} {family}".strip(), "given_name": given, "family_name": family,
            "email": email, "roles": roles, "status": status}


ROSTER = [_member(*educator[:4]) for educator in EDUCATORS] + [
    _member("user-instructor-1", "Grace", "Hopper", "grace@school.example", roles=[ROLE + "Instructor"]),
    _member("user-assessor-1", "Alan", "Turing", "alan@school.example",
            roles=[ROLE + "Instructor/TeachingAssistant"]),
    _member("edu-inactive", "Ina", "Inactive", "ina@school.example", status="Inactive"),
]



def _instructor(browser, course=COURSE, activity=ACTIVITY):
    result = browser.launch(person="instructor", custom={"microcredential": SLUG}, resource_link_id=activity,
                            context_id=course)
    assert result.status_code == 200, result.text[:500]
    assert "/progress/" in result.url  # an instructor on a bound link lands on the course's progress
    return result


def _sync(browser, page):
    return browser.submit_form(page.response if hasattr(page, "response") else page)


def _do_work(app, sub, step, at, course=COURSE, activity=ACTIVITY):
    bring_work_to(app, sub, step, at, course=course, activity=activity, slug=SLUG)


@pytest.fixture
def course(app, platform, browser, catalog):
    """A course whose roster is in the LMS, synced once, with educators in every state the tool can make."""
    platform.services.default_page_size = 3  # the roster spans several pages
    platform.services.add_members(COURSE, ROSTER)
    page = _instructor(browser)
    synced = _sync(browser, page)
    assert synced.status_code == 200, synced.text[:500]
    assert f"{len(ROSTER)} members" in synced.text
    for position, (sub, *_, step) in enumerate(EDUCATORS):
        if step is not None:
            _do_work(app, sub, step, START + timedelta(days=position))
    return page


def _get(browser, live_tool, ltik, path="/progress/", **params):
    return browser.get(live_tool.url + path, params={"ltik": ltik, **params})


ROW = re.compile(r'<tr data-state="(\w+)">\s*<td>(.*?)</td>', re.S)
COUNT = re.compile(r'data-state="(\w+)"[^>]*><span class="n">(\d+)</span>')


def _rows(html: str) -> list[tuple[str, str]]:
    from html import unescape

    return [(unescape(name), state) for state, name in ROW.findall(html)]


def test_counts_and_states_follow_each_educators_latest_attempt(browser, live_tool, course):
    page = _get(browser, live_tool, course.ltik)
    assert page.status_code == 200
    assert "Professional Learning 2026" in page.text and TITLE in page.text
    assert dict(_rows(page.text)) == EXPECTED_STATES  # instructor, assessor and inactive members are not listed
    counts = {state: int(n) for state, n in COUNT.findall(page.text)}
    assert counts == {"not_started": 3, "draft": 2, "submitted": 1, "in_assessment": 2, "earned": 0, "not_yet": 0}
    assert "Grace Hopper" not in page.text.split("<table", 1)[1]
    assert "Alan Turing" not in page.text  # no assessor's identity, anywhere
    assert "Refresh roster from the LMS" in page.text


def _decide(app, sub: str, decision: str) -> None:
    """The assessment of the educator's released attempt records its decision ("earned" or "notyet")."""
    from lti_tool.assessment.models import Assessment
    from lti_tool.extensions import db
    from lti_tool.lti.models import LtiUser
    from lti_tool.submissions.models import Attempt, Enrollment

    with app.app_context():
        assessment = db.session.scalar(
            db.select(Assessment).join(Attempt, Attempt.id == Assessment.attempt_id).join(Enrollment)
            .join(LtiUser, LtiUser.id == Enrollment.user_id).where(LtiUser.sub == sub))
        assessment.decision = decision
        db.session.commit()


@pytest.mark.parametrize(("decision", "state"), [("earned", "earned"), ("notyet", "not_yet")])
def test_a_released_decision_shows_as_earned_or_not_yet(app, browser, live_tool, course, decision, state):
    _decide(app, "edu-dara", decision)
    page = _get(browser, live_tool, course.ltik, status=state)
    assert _rows(page.text) == [("Dara Diaz", state)]


def test_the_reopened_attempt_is_a_draft_of_attempt_two(app, browser, live_tool, course):
    page = _get(browser, live_tool, course.ltik, status="draft")
    assert [name for name, _ in _rows(page.text)] == ["Ada Lovelace", "Gil Gray"]
    gil = page.text.split("Gil Gray", 1)[1].split("</tr>", 1)[0]
    assert "<td>2</td>" in gil


@pytest.mark.parametrize(("state", "names"), [
    ("not_started", ['=HYPERLINK("http://evil.example","x")', "Eve Evans", "Finn Fox"]),
    ("submitted", ["Brook Banda"]),
    ("in_assessment", ["Chen Cho", "Dara Diaz"]),
    ("earned", []),
])
def test_filter_by_state(browser, live_tool, course, state, names):
    page = _get(browser, live_tool, course.ltik, status=state)
    assert page.status_code == 200
    assert [name for name, _ in _rows(page.text)] == names
    assert {s for _, s in _rows(page.text)} <= {state}


def test_an_unknown_filter_or_sort_falls_back_to_everyone_by_name(browser, live_tool, course):
    page = _get(browser, live_tool, course.ltik, status="bogus", sort="password", dir="sideways")
    assert page.status_code == 200
    assert len(_rows(page.text)) == len(EXPECTED_STATES)


def test_sort_by_name_state_last_modified_and_submitted(browser, live_tool, course):
    def names(**params):
        return [name for name, _ in _rows(_get(browser, live_tool, course.ltik, **params).text)]

    by_name = names(sort="name")
    assert by_name == sorted(EXPECTED_STATES, key=str.casefold)
    assert names(sort="name", dir="desc") == by_name[::-1]
    by_state = names(sort="state")
    order = [progress.STATES.index(EXPECTED_STATES[n]) for n in by_state]
    assert order == sorted(order)
    # Gil's second attempt is the newest change; Finn opened attempt 1 and never wrote: last, in both directions.
    assert names(sort="last_modified", dir="desc")[:4] == ["Gil Gray", "Dara Diaz", "Chen Cho", "Brook Banda"]
    assert names(sort="last_modified")[:2] == ["Ada Lovelace", "Brook Banda"]
    # Gil's latest attempt (2) is not submitted yet: like those who never submitted, after those who did.
    assert names(sort="submitted", dir="desc")[:3] == ["Dara Diaz", "Chen Cho", "Brook Banda"]
    assert names(sort="submitted")[:3] == ["Brook Banda", "Chen Cho", "Dara Diaz"]
    assert names(sort="submitted")[-1] == "Gil Gray"


def test_a_long_list_is_paged_and_the_pages_keep_the_sort(browser, live_tool, course, monkeypatch):
    from lti_tool.submissions import instructor_views

    monkeypatch.setattr(instructor_views, "PAGE_SIZE", 3)
    pages = [_get(browser, live_tool, course.ltik, sort="name", dir="desc", page=n) for n in (1, 2, 3)]
    assert [len(_rows(p.text)) for p in pages] == [3, 3, 2]
    assert [name for p in pages for name, _ in _rows(p.text)] == sorted(EXPECTED_STATES, key=str.casefold)[::-1]
    assert 'rel="next"' in pages[0].text and 'rel="next"' not in pages[2].text
    assert "Page 2 of 3" in pages[1].text
    assert {state: int(n) for state, n in COUNT.findall(pages[2].text)}["not_started"] == 3  # counts cover all
    beyond = _get(browser, live_tool, course.ltik, page=99)
    assert beyond.status_code == 200 and "Page 3 of 3" in beyond.text


def test_the_csv_export_is_an_attachment_with_formulas_neutralised(browser, live_tool, course):
    response = _get(browser, live_tool, course.ltik, path="/progress/export.csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert ".csv" in response.headers["Content-Disposition"]
    table = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert table[0] == ["Name", "Email", "State", "Attempt", "Last modified", "Submitted", "Badge issued", "Revoked",
                        "Time zone"]
    rows = {row[0]: row for row in table[1:]}
    assert len(rows) == len(EXPECTED_STATES)
    assert rows["'=HYPERLINK(\"http://evil.example\",\"x\")"][1] == "'@evil.example"
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in table for cell in row)
    brook = rows["Brook Banda"]
    assert brook[1:4] == ["brook@school.example", "Submitted", "1"]
    assert datetime.fromisoformat(brook[5]) == START + timedelta(days=1, minutes=5)
    assert datetime.fromisoformat(brook[4]) == START + timedelta(days=1)
    assert rows["Gil Gray"][2:4] == ["Draft", "2"]
    assert rows["Eve Evans"][2:] == ["Not started", "", "", "", "", "", rows["Eve Evans"][-1]]


def test_the_csv_export_follows_the_filter(browser, live_tool, course):
    response = _get(browser, live_tool, course.ltik, path="/progress/export.csv", status="in_assessment")
    table = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [row[0] for row in table[1:]] == ["Chen Cho", "Dara Diaz"]


@pytest.mark.parametrize("path", ["/progress/", "/progress/export.csv"])
def test_a_learner_cannot_see_the_course_progress(browser, live_tool, course, path):
    learner = browser.launch(person="learner", custom={"microcredential": SLUG}, resource_link_id=ACTIVITY)
    assert learner.ltik
    response = _get(browser, live_tool, learner.ltik, path=path)
    assert response.status_code == 403
    assert "Brook Banda" not in response.text


def test_a_learner_cannot_refresh_the_roster(app, browser, live_tool, platform, course):
    learner = browser.launch(person="learner", custom={"microcredential": SLUG}, resource_link_id=ACTIVITY)
    before = len(platform.services.requests_to("/memberships"))
    with nothing_changes(app):
        response = browser.post(live_tool.url + "/progress/sync", data={"ltik": learner.ltik})
    assert response.status_code == 403
    assert len(platform.services.requests_to("/memberships")) == before


def test_without_a_launch_reference_nothing_is_shown(browser, live_tool, course):
    assert browser.get(live_tool.url + "/progress/").status_code == 403
    assert browser.get(live_tool.url + "/progress/", params={"ltik": course.ltik + "x"}).status_code == 403


def test_an_instructor_of_another_course_sees_only_their_own(app, browser, live_tool, platform, course):
    other = _instructor(browser, course="course-2", activity=ACTIVITY)  # the same activity id, another course
    page = _get(browser, live_tool, other.ltik)
    assert page.status_code == 200
    assert _rows(page.text) == []
    for name in EXPECTED_STATES:
        assert name not in page.text
    export = _get(browser, live_tool, other.ltik, path="/progress/export.csv")
    assert export.content.decode("utf-8-sig").strip().splitlines() == [
        '"Name","Email","State","Attempt","Last modified","Submitted","Badge issued","Revoked","Time zone"'
    ]
    # The first course is unchanged for its own instructor.
    assert len(_rows(_get(browser, live_tool, course.ltik).text)) == len(EXPECTED_STATES)


def test_a_new_learner_on_the_lms_roster_appears_after_a_refresh(browser, live_tool, platform, course):
    platform.services.add_members(COURSE, [_member("edu-hana", "Hana", "Hill", "hana@school.example")])
    assert "Hana Hill" not in _get(browser, live_tool, course.ltik).text
    refreshed = _sync(browser, course)
    assert refreshed.status_code == 200
    assert ("Hana Hill", "not_started") in _rows(refreshed.text)


def test_a_learner_removed_from_the_lms_leaves_the_list_unless_they_started(app, browser, live_tool, platform,
                                                                             course):
    members = platform.services.members[COURSE]
    members[:] = [m for m in members if m["user_id"] not in ("edu-eve", "edu-brook")]
    refreshed = _sync(browser, course)
    names = [name for name, _ in _rows(refreshed.text)]
    assert "Eve Evans" not in names
    assert "Brook Banda" in names  # submitted work stays visible


def test_the_lms_failing_during_a_refresh_keeps_the_last_known_roster(browser, live_tool, platform, course):
    platform.services.add_members(COURSE, [_member("edu-hana", "Hana", "Hill", "hana@school.example")])
    platform.services.fail_next("/memberships", status=503)
    failed = _sync(browser, course)
    assert failed.status_code == 502
    assert "The roster could not be refreshed from the LMS" in failed.text
    assert "Nothing was lost" in failed.text
    assert dict(_rows(failed.text)) == EXPECTED_STATES
    assert "Hana Hill" not in failed.text
    # Still all there afterwards, and the next refresh works.
    assert dict(_rows(_get(browser, live_tool, course.ltik).text)) == EXPECTED_STATES
    assert ("Hana Hill", "not_started") in _rows(_sync(browser, course).text)


def test_the_lms_failing_on_a_later_page_changes_nothing(browser, live_tool, platform, course):
    platform.services.members[COURSE].clear()
    platform.services.add_members(COURSE, ROSTER[:1] + [_member(f"edu-late-{i}", "Late", str(i), "") for i in range(5)])
    platform.services.fail_next("/memberships/course-1/NextPage", status=503)
    failed = _sync(browser, course)
    assert failed.status_code == 502
    assert dict(_rows(failed.text)) == EXPECTED_STATES  # nobody marked as gone, nobody half-added


# -- the roster read when the page opens ----------------------------------------------------------------
def _roster_synced_at(app, course=COURSE):
    from lti_tool.extensions import db
    from lti_tool.lti.models import Context

    with app.app_context():
        return db.session.scalar(db.select(Context.roster_synced_at).where(Context.context_id == course))


def _age_roster(app, by: timedelta, course=COURSE):
    from lti_tool.extensions import db
    from lti_tool.lti.models import Context

    with app.app_context():
        context = db.session.scalar(db.select(Context).where(Context.context_id == course))
        context.roster_synced_at -= by
        db.session.commit()


def test_the_first_opening_lists_the_lms_roster_as_not_started(app, browser, platform, catalog):
    platform.services.add_members(COURSE, ROSTER)  # nobody but the instructor has ever opened the activity
    page = _instructor(browser)
    assert page.status_code == 200
    assert len(platform.services.requests_to("/memberships")) >= 1
    rows = dict(_rows(page.text))
    assert rows == {name: "not_started" for name in EXPECTED_STATES}
    assert "Roster read from the LMS on" in page.text
    assert "could not be refreshed" not in page.text
    assert _roster_synced_at(app) is not None


def test_opening_again_within_the_max_age_does_not_ask_the_lms(app, browser, live_tool, platform, catalog):
    platform.services.add_members(COURSE, ROSTER)
    page = _instructor(browser)
    asked = len(platform.services.requests_to("/memberships"))
    assert asked >= 1
    first_read = _roster_synced_at(app)
    again = _get(browser, live_tool, page.ltik, sort="state")
    assert again.status_code == 200
    assert len(platform.services.requests_to("/memberships")) == asked
    assert _roster_synced_at(app) == first_read
    # Older than ROSTER_MAX_AGE: the next opening reads it again, and a new learner appears.
    platform.services.add_members(COURSE, [_member("edu-hana", "Hana", "Hill", "hana@school.example")])
    _age_roster(app, progress.ROSTER_MAX_AGE + timedelta(minutes=1))
    later = _get(browser, live_tool, page.ltik)
    assert len(platform.services.requests_to("/memberships")) > asked
    assert ("Hana Hill", "not_started") in _rows(later.text)
    assert _roster_synced_at(app) > first_read


def test_the_refresh_button_reads_the_roster_at_any_time_and_records_it(app, browser, platform, catalog):
    platform.services.add_members(COURSE, ROSTER)
    page = _instructor(browser)
    asked = len(platform.services.requests_to("/memberships"))
    first_read = _roster_synced_at(app)
    refreshed = _sync(browser, page)
    assert refreshed.status_code == 200
    assert len(platform.services.requests_to("/memberships")) > asked
    assert _roster_synced_at(app) > first_read


def test_the_lms_failing_on_the_first_opening_shows_the_people_known_from_launches(app, browser, live_tool,
                                                                                  platform, catalog):
    platform.services.add_members(COURSE, ROSTER)
    learner = browser.launch(person="learner", custom={"microcredential": SLUG}, resource_link_id=ACTIVITY)
    assert learner.status_code == 200, learner.text[:500]
    platform.services.fail_next("/memberships", status=503)
    page = _instructor(browser)
    assert page.status_code == 200  # a notice on the page, not an error page
    assert "The roster could not be refreshed from the LMS" in page.text
    assert "lists only the educators who have opened the activity" in page.text
    assert [name for name, _ in _rows(page.text)] == ["Ada Lovelace"]
    assert _roster_synced_at(app) is None
    # An LMS that is down is not asked on every opening (each attempt may wait for a timeout)...
    asked = len(platform.services.requests_to("/memberships"))
    assert _get(browser, live_tool, page.ltik).status_code == 200
    assert len(platform.services.requests_to("/memberships")) == asked
    # ...but the failed read was not recorded as a read: a minute later the next opening tries again, and succeeds.
    from lti_tool.extensions import cache

    with app.app_context():
        cache.clear()
    again = _get(browser, live_tool, page.ltik)
    assert again.status_code == 200
    assert "could not be refreshed" not in again.text
    assert ("Eve Evans", "not_started") in _rows(again.text)


def test_the_instructor_home_of_an_unbound_link_still_offers_the_catalog(browser, catalog):
    picker = browser.launch(person="instructor", resource_link_id="unbound-progress")
    assert "Choose the micro-credential for this activity" in picker.text
    bound = browser.submit_form(picker.response, microcredential=SLUG)
    assert bound.status_code == 200
    assert "/progress/" in bound.url and TITLE in bound.text
