"""The instructor's progress view on a course that spans pages: paging, filters, sorts and counts run in the
database, and the CSV streams the same rows in the same order.

The course is made fast, as a roster read and the services leave it (rows inserted in the test's app context):
600 Learner members in every state and flag, a few people enrolled here without a membership, and people who
must not be listed (teaching assistants, inactive members). The expected order is computed here from what was
inserted, by the rules the page states (name case-insensitively then email then id; a sorted value with the rows
without it last in both directions, ties by name), and compared with the pages read over real HTTP.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html import unescape

import pytest
from sqlalchemy import insert

from lti_tool.core.models import utcnow
from lti_tool.core.spreadsheets import CSV_CHUNK_CHARACTERS
from lti_tool.extensions import db
from tests.platform.platform import ROLE

pytestmark = pytest.mark.usefixtures("running_term")

SLUG = "self-assessment-growth"
COURSE = "course-big"
ACTIVITY = "activity-big"
EDUCATORS = 600
PAGE_SIZE = 250  # instructor_views.PAGE_SIZE
ROW = re.compile(r'<tr data-state="(\w+)">\s*<td>(.*?)</td>\s*<td>(.*?)</td>', re.S)
COUNT = re.compile(r'data-(?:state|flag)="(\w+)"[^>]*><span class="n">(\d+)</span>')
STATES = ("not_started", "draft", "submitted", "in_assessment", "earned", "not_yet")


@dataclass
class Expected:
    """One educator as the page must show them, from what the test inserted."""

    user_id: int
    name: str
    email: str
    state: str
    flags: set[str] = field(default_factory=set)
    last_modified: datetime | None = None
    submitted: datetime | None = None
    due: datetime | None = None  # the unreleased assessment's due date


def _name(i: int) -> tuple[str, str, str]:
    """(name, given name, family name): mixed case, some only given and family names, some none, some the same."""
    if i % 97 == 5:
        return "", "", ""
    if i % 13 == 4:
        return "", f"Given{i}", f"Family{i}"
    if i % 40 in (0, 20):
        return ("Same Name" if i % 40 == 0 else "same NAME"), "", ""
    first = chr((ord("A") if i % 2 else ord("a")) + (i * 7) % 26)
    return f"{first}{i:03d} Person", "", ""


def _ids(model, rows: list[dict]) -> list[int]:
    return list(db.session.scalars(insert(model).returning(model.id, sort_by_parameter_order=True), rows))


def _make_course(app, platform) -> list[Expected]:
    """The course's rows inserted as a roster read and the services leave them; what the page must list."""
    from lti_tool.assessment.models import Assessment
    from lti_tool.catalog.services import current_term, get_microcredential
    from lti_tool.lti.models import Context, LtiUser, Membership, Registration, ResourceLink
    from lti_tool.submissions.models import Attempt, Enrollment

    now = utcnow()
    base = now - timedelta(days=30)
    with app.app_context():
        registration = db.session.scalar(db.select(Registration).where(Registration.issuer == platform.issuer))
        context = db.session.scalar(db.select(Context).where(Context.context_id == COURSE))
        link = db.session.scalar(db.select(ResourceLink).where(ResourceLink.resource_link_id == ACTIVITY))
        context.roster_synced_at = now  # just read: the page does not ask the LMS again
        microcredential, term = get_microcredential(SLUG), current_term(now)
        people = [_name(i) for i in range(EDUCATORS + 2)]
        user_ids = _ids(LtiUser, [
            {"registration_id": registration.id, "issuer": registration.issuer, "sub": f"big-{i:03d}", "name": name,
             "given_name": given, "family_name": family, "email": f"e{(i * 37) % 1000:03d}@school.example"}
            for i, (name, given, family) in enumerate(people)])
        hidden = _ids(LtiUser, [{"registration_id": registration.id, "issuer": registration.issuer,
                                 "sub": f"hidden-{n}", "name": f"Not Listed {n}"} for n in range(4)])
        learner = [ROLE + "Learner"]
        db.session.execute(insert(Membership), [
            {"context_id": context.id, "user_id": uid, "roles": learner if i % 3 else ["Learner"], "status": "Active"}
            for i, uid in enumerate(user_ids[:EDUCATORS])
        ] + [{"context_id": context.id, "user_id": hidden[0], "roles": [ROLE + "Instructor#TeachingAssistant"],
              "status": "Active"},
             {"context_id": context.id, "user_id": hidden[1], "roles": [ROLE + "Mentor"], "status": "Active"},
             {"context_id": context.id, "user_id": hidden[2], "roles": learner, "status": "Inactive"},
             {"context_id": context.id, "user_id": hidden[3], "roles": learner, "status": "Deleted"}])
        # kind (i % 8): 0 on the roster only, 1 enrolled without an attempt, 2 a new attempt, 3 a draft, 4 submitted
        # and due later, 5 submitted and overdue, 6 released as earned, 7 released as not yet then a draft of
        # attempt 2. The last two people are enrolled here without being members (a draft each).
        kinds = [i % 8 for i in range(EDUCATORS)] + [3, 3]
        enrolled = [i for i, kind in enumerate(kinds) if kind]
        enrollments = dict(zip(enrolled, _ids(Enrollment, [
            {"user_id": user_ids[i], "microcredential_id": microcredential.id, "term_id": term.id,
             "resource_link_id": link.id} for i in enrolled]), strict=True))
        expected, attempts, assessments = [], [], []
        for i, (name, given, family) in enumerate(people):
            kind = kinds[i]
            shown = name or " ".join(p for p in (given, family) if p) or "Unnamed user"
            row = Expected(user_ids[i], shown, f"e{(i * 37) % 1000:03d}@school.example", "not_started")
            expected.append(row)
            changed = base + timedelta(minutes=i)
            submitted = base + timedelta(hours=i // 16)  # two of each kind share a time: ties go by name
            if kind == 2:
                attempts.append((i, 1, "new", "notmarked", None, None))
            elif kind == 3:
                attempts.append((i, 1, "draft", "notmarked", changed, None))
                row.state, row.last_modified = "draft", changed
            elif kind in (4, 5):
                attempts.append((i, 1, "submitted", "notmarked", changed, submitted))
                due = now + timedelta(days=i % 5 + 1) if kind == 4 else now - timedelta(days=i % 7 + 1)
                assessments.append((i, 1, due, None, None))
                row.state, row.last_modified, row.submitted, row.due = "submitted", changed, submitted, due
                row.flags = {"overdue"} if kind == 5 else set()
            elif kind == 6:
                attempts.append((i, 1, "submitted", "released", changed, submitted))
                assessments.append((i, 1, now - timedelta(days=3), "earned", now - timedelta(days=5)))
                row.state, row.flags = "earned", {"released"}
                row.last_modified, row.submitted = changed, submitted
            elif kind == 7:
                attempts.append((i, 1, "submitted", "released", base, base))
                assessments.append((i, 1, now - timedelta(days=3), "notyet", base + timedelta(days=1)))
                attempts.append((i, 2, "draft", "notmarked", changed, None))
                row.state, row.flags, row.last_modified = "draft", {"resubmitted"}, changed
        attempt_ids = dict(zip([(i, number) for i, number, *_ in attempts], _ids(Attempt, [
            {"enrollment_id": enrollments[i], "number": number, "status": status, "marking_status": marking,
             "overview": "" if status == "new" else "Work.", "reflection": "", "collaborators": "", "version": 1,
             "content_changed_at": changed, "submitted_at": submitted}
            for i, number, status, marking, changed, submitted in attempts]), strict=True))
        db.session.execute(insert(Assessment), [
            {"attempt_id": attempt_ids[(i, number)], "registration_id": registration.id, "context_id": context.id,
             "microcredential_id": microcredential.id, "educator_id": user_ids[i], "pseudonym": f"B{i:03d}",
             "attempt_number": number, "submitted_at": base, "due_at": due, "decision": decision,
             "released_at": released, "score_given": 1.0 if released else None,
             "score_maximum": 1.0 if released else None}
            for i, number, due, decision, released in assessments])
        db.session.commit()
    return expected


@pytest.fixture
def course(app, platform, browser):
    """The instructor's launch (it records the course and activity), then the course's 600 educators."""
    page = browser.launch(person="instructor", custom={"microcredential": SLUG}, resource_link_id=ACTIVITY,
                          context_id=COURSE)
    assert page.status_code == 200 and "/progress/" in page.url, page.text[:500]
    return page.ltik, _make_course(app, platform)


def _page(browser, live_tool, ltik, **params):
    response = browser.get(live_tool.url + "/progress/", params={"ltik": ltik, **params})
    assert response.status_code == 200, response.text[:300]
    return response.text


def _rows(html: str) -> list[tuple[str, str, str]]:
    """(name, email, state) of each row shown."""
    return [(unescape(name), unescape(email), state) for state, name, email in ROW.findall(html)]


def _all_pages(browser, live_tool, ltik, **params) -> list[tuple[str, str, str]]:
    first = _page(browser, live_tool, ltik, **params)
    pages = int(re.search(r"Page 1 of (\d+)", first).group(1)) if "Page 1 of" in first else 1
    rows = _rows(first)
    for number in range(2, pages + 1):
        shown = _rows(_page(browser, live_tool, ltik, page=number, **params))
        assert len(shown) == (PAGE_SIZE if number < pages else len(shown))
        rows += shown
    return rows


def _by_name(rows: list[Expected]) -> list[Expected]:
    return sorted(rows, key=lambda r: (r.name.casefold(), r.email.casefold(), r.user_id))


def _sorted(rows: list[Expected], sort: str, descending: bool) -> list[Expected]:
    """The order the page states: by name; or by the value, rows without it last in both directions, ties by name."""
    by_name = _by_name(rows)
    if sort == "name":
        return by_name[::-1] if descending else by_name
    value = {"state": lambda r: STATES.index(r.state), "last_modified": lambda r: r.last_modified,
             "submitted": lambda r: r.submitted, "due": lambda r: r.due}[sort]
    present = [r for r in by_name if value(r) is not None]
    missing = [r for r in by_name if value(r) is None]
    return sorted(present, key=value, reverse=descending) + missing


def _shown(rows: list[Expected]) -> list[tuple[str, str, str]]:
    return [(r.name, r.email, r.state) for r in rows]


def _matching(rows: list[Expected], status: str) -> list[Expected]:
    return [r for r in rows if r.state == status or status in r.flags]


def test_the_pages_hold_the_whole_course_by_name_and_the_counts_cover_everyone(browser, live_tool, course):
    ltik, expected = course
    first = _page(browser, live_tool, ltik)
    assert f"{len(expected)} educators" in first and "Page 1 of 3" in first
    counts = {key: int(n) for key, n in COUNT.findall(first)}
    assert counts == {key: len(_matching(expected, key)) for key in (*STATES, "released", "overdue", "resubmitted")}
    assert counts["not_started"] and counts["overdue"] and counts["resubmitted"]  # every kind is there
    shown = _all_pages(browser, live_tool, ltik)
    assert shown == _shown(_by_name(expected))  # no assistant, mentor, inactive or deleted member
    assert ("Unnamed user", "e185@school.example", "submitted") in shown  # no name, no given or family name
    assert _all_pages(browser, live_tool, ltik, dir="desc") == _shown(_by_name(expected)[::-1])


@pytest.mark.parametrize("sort", ["state", "last_modified", "submitted", "due"])
@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_each_sort_orders_every_page_with_the_rows_without_a_value_last(browser, live_tool, course, sort,
                                                                        direction):
    ltik, expected = course
    shown = _all_pages(browser, live_tool, ltik, sort=sort, dir=direction)
    assert shown == _shown(_sorted(expected, sort, direction == "desc"))


@pytest.mark.parametrize(("status", "sort", "direction"), [
    ("overdue", "due", "asc"), ("submitted", "submitted", "desc"), ("not_started", "name", "desc"),
    ("draft", "last_modified", "desc"), ("released", "state", "asc"), ("resubmitted", "name", "asc"),
])
def test_a_filter_pages_and_counts_only_its_rows(browser, live_tool, course, status, sort, direction):
    ltik, expected = course
    matching = _matching(expected, status)
    first = _page(browser, live_tool, ltik, status=status, sort=sort, dir=direction)
    assert f"{len(matching)} educators" in first
    assert _all_pages(browser, live_tool, ltik, status=status, sort=sort, dir=direction) == \
        _shown(_sorted(matching, sort, direction == "desc"))


def test_an_unknown_filter_sort_or_page_falls_back(browser, live_tool, course):
    ltik, expected = course
    by_name = _shown(_by_name(expected))
    odd = _page(browser, live_tool, ltik, status="bogus", sort="password", dir="sideways", page="x")
    assert _rows(odd) == by_name[:PAGE_SIZE] and "Page 1 of 3" in odd
    for page in ("0", "-4"):
        assert _rows(_page(browser, live_tool, ltik, page=page)) == by_name[:PAGE_SIZE]
    beyond = _page(browser, live_tool, ltik, page=99)
    assert "Page 3 of 3" in beyond and _rows(beyond) == by_name[2 * PAGE_SIZE :]
    huge = _page(browser, live_tool, ltik, page=10**30)
    assert "Page 3 of 3" in huge
    empty = _page(browser, live_tool, ltik, status="in_assessment", page=5)  # nobody: one empty page
    assert _rows(empty) == [] and "No educator is in the state" in empty


@pytest.mark.parametrize("params", [{}, {"status": "draft", "sort": "last_modified", "dir": "desc"}])
def test_the_csv_streams_the_rows_in_the_tables_order(browser, live_tool, course, params):
    ltik, _expected = course
    response = browser.session.get(live_tool.url + "/progress/export.csv", params={"ltik": ltik, **params},
                                   stream=True, timeout=60)
    assert response.status_code == 200
    assert "Content-Length" not in response.headers  # streamed: the size is not known before the end
    chunks = list(response.iter_content(chunk_size=None))
    body = b"".join(chunks)
    # The lines leave as they are read, joined into pieces of about CSV_CHUNK_CHARACTERS (the whole course: two).
    assert len(chunks) == len(body) // CSV_CHUNK_CHARACTERS + 1 and (params or len(chunks) >= 2)
    table = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    labels = {state: label for state, label in zip(STATES, ("Not started", "Draft", "Submitted", "In assessment",
                                                                "Earned", "Not yet"), strict=True)}
    shown = _all_pages(browser, live_tool, ltik, **params)
    assert [tuple(row[:3]) for row in table[1:]] == [(name, email, labels[state]) for name, email, state in shown]
