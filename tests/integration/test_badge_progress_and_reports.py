"""The instructor's progress view and the organizations' report show each educator's badge: when it was issued
(or that it waits for an email), and when it was revoked — on the page and in the CSV exports.

Badges are earned as people earn them (`badge_road.earn_badge`); an admin revokes one through the admin page.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime

import pytest
from sqlalchemy import event

from lti_tool.extensions import db
from tests.badge_road import badge_row, earn_badge
from tests.integration.test_admin_badges import client, launched_ltik
from tests.platform.platform import PEOPLE, ROLES, Person

pytestmark = pytest.mark.usefixtures("running_term")

SLUG = "self-assessment-growth"
TITLE = "Educator Self-Assessment and Professional Growth"
FORMULA = '=HYPERLINK("http://evil.example","x")'
FORMULA_NAME = FORMULA + " Formula"
REASON = "Issued by mistake."


@pytest.fixture(autouse=True)
def _a_formula_learner(monkeypatch):
    """An educator whose LMS name a spreadsheet would run as a formula."""
    monkeypatch.setitem(PEOPLE, "formula", Person("user-formula", FORMULA, "Formula", "=cmd@evil.example"))
    monkeypatch.setitem(ROLES, "formula", ROLES["learner"])


@pytest.fixture
def badges(app, platform):
    """Ada's badge issued; Katherine's waiting for her email (the LMS shared none)."""
    issued = earn_badge(app, platform)
    waiting = earn_badge(app, platform, person="learner-2", share_email=False)
    assert badge_row(app, waiting.assessment_id).status == "awaiting_email"
    return issued, waiting


def launch(platform, person: str) -> str:
    return launched_ltik(platform, person=person, custom={"microcredential": SLUG})


def get(live_tool, path, ltik, **params):
    return client(ltik).get(live_tool.url + path, params={"ltik": ltik, **params}, timeout=10)


def revoke(live_tool, admin_ltik, badge_uuid):
    done = client(admin_ltik).post(f"{live_tool.url}/admin/badges/{badge_uuid}/revoke",
                                   data={"ltik": admin_ltik, "reason": REASON}, timeout=10)
    assert done.status_code == 200 and "The badge was revoked" in done.text


def row_of(html: str, name: str) -> str:
    return html.split(f"<td>{name}</td>", 1)[1].split("</tr>", 1)[0]


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def time_in(html: str) -> datetime:
    """The instant of the first `<time datetime>` (ISO 8601 with the offset of the term's zone)."""
    return datetime.fromisoformat(re.search(r'<time datetime="([^"]+)">', html).group(1))


def issued_at(app, earned) -> datetime:
    return badge_row(app, earned.assessment_id).issued_at


# -- the progress view ---------------------------------------------------------------------------------------
def test_the_progress_view_shows_when_each_badge_was_issued_and_revoked(app, platform, live_tool, badges):
    issued, waiting = badges
    instructor = launch(platform, "instructor")
    page = get(live_tool, "/progress/", instructor)
    assert page.status_code == 200
    assert "<th scope=\"col\">Badge issued</th>" in page.text and "<th scope=\"col\">Revoked</th>" in page.text
    ada = row_of(page.text, "Ada Lovelace")
    when = issued_at(app, issued)
    assert time_in(ada.split("data-badge-issued", 1)[1].split("</td>", 1)[0]) == when
    assert ada.split("data-badge-revoked>", 1)[1].startswith("—")
    katherine = row_of(page.text, "Katherine Johnson")
    assert "Awaiting the educator's email" in katherine

    export = csv_rows(get(live_tool, "/progress/export.csv", instructor))
    assert export[0][-3:] == ["Badge issued", "Revoked", "Time zone"]
    by_name = {row[0]: row for row in export[1:]}
    assert datetime.fromisoformat(by_name["Ada Lovelace"][6]) == when and by_name["Ada Lovelace"][7] == ""
    assert by_name["Katherine Johnson"][6:8] == ["awaiting the educator's email", ""]

    revoke(live_tool, launch(platform, "admin"), issued.badge_uuid)
    revoked_at = badge_row(app, issued.assessment_id).revoked_at
    page = get(live_tool, "/progress/", instructor)
    revoked_cell = row_of(page.text, "Ada Lovelace").split("data-badge-revoked>", 1)[1].split("</td>", 1)[0]
    assert time_in(revoked_cell) == revoked_at
    by_name = {row[0]: row for row in csv_rows(get(live_tool, "/progress/export.csv", instructor))[1:]}
    assert datetime.fromisoformat(by_name["Ada Lovelace"][7]) == revoked_at
    assert datetime.fromisoformat(by_name["Ada Lovelace"][6]) == when  # issued it was, and when


def test_the_progress_csv_keeps_the_formula_guard(app, platform, live_tool):
    earn_badge(app, platform, person="formula")
    export = csv_rows(get(live_tool, "/progress/export.csv", launch(platform, "instructor")))
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in export for cell in row)
    assert any(row[0] == "'" + FORMULA_NAME and row[1] == "'=cmd@evil.example" and row[6] for row in export)


class StatementCounter:
    """The SQL statements the tool runs (its server is a thread of this process, on the same engine)."""

    def __init__(self, app):
        with app.app_context():
            self.engine = db.engine
        self.count = 0

    def _count(self, *_args, **_kwargs):
        self.count += 1

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *_exc):
        event.remove(self.engine, "before_cursor_execute", self._count)


def test_the_badge_facts_cost_one_query_per_page_not_one_per_row(app, platform, live_tool):
    earn_badge(app, platform)
    instructor = launch(platform, "instructor")
    get(live_tool, "/progress/", instructor)  # the roster is read once, the LMS grades cached
    with StatementCounter(app) as one:
        assert "data-badge-issued><time" in get(live_tool, "/progress/", instructor).text
    earn_badge(app, platform, person="learner-2")
    earn_badge(app, platform, person="formula")
    with StatementCounter(app) as three:
        page = get(live_tool, "/progress/", instructor)
    assert page.text.count("data-badge-issued><time") == 3
    assert three.count == one.count, (one.count, three.count)


# -- the organizations' report -------------------------------------------------------------------------------
def badge_rows(html: str) -> dict[str, tuple[str, str, str]]:
    """The report's badges table: name → (status, issued cell, revoked cell)."""
    table = html.split('id="badges"', 1)[1].split("</table>", 1)[0]
    rows = {}
    for status, row in re.findall(r'<tr data-badge-status="(\w+)">(.*?)</tr>', table, re.S):
        name = re.search(r"<td>(.*?)</td>", row).group(1)
        issued = row.split("data-badge-issued>", 1)[1].split("</td>", 1)[0]
        revoked = row.split("data-badge-revoked>", 1)[1].split("</td>", 1)[0]
        rows[name] = (status, issued, revoked)
    return rows


def test_the_report_lists_the_badges_with_their_issue_and_revocation(app, platform, live_tool, badges):
    issued, _ = badges
    admin = launch(platform, "admin")
    page = get(live_tool, "/admin/reports", admin)
    assert page.status_code == 200
    rows = badge_rows(page.text)
    when = issued_at(app, issued)
    assert rows["Ada Lovelace"][0] == "issued" and when.strftime("%d %b %Y") in rows["Ada Lovelace"][1]
    assert rows["Ada Lovelace"][2] == "—"
    assert rows["Katherine Johnson"][0] == "awaiting_email" and "Awaiting" in rows["Katherine Johnson"][1]
    assert "/admin/reports/badges.csv?ltik=" in page.text

    export = csv_rows(get(live_tool, "/admin/reports/badges.csv", admin))
    assert export[0] == ["Name", "Email", "Micro-credential", "Term", "Course", "Badge issued", "Revoked", "Time zone"]
    by_name = {row[0]: row for row in export[1:]}
    assert by_name["Ada Lovelace"][1:3] == ["ada@school.example", TITLE]
    assert datetime.fromisoformat(by_name["Ada Lovelace"][5]) == when and by_name["Ada Lovelace"][6] == ""
    assert by_name["Katherine Johnson"][5:7] == ["awaiting the educator's email", ""]

    revoke(live_tool, admin, issued.badge_uuid)
    revoked_at = badge_row(app, issued.assessment_id).revoked_at
    rows = badge_rows(get(live_tool, "/admin/reports", admin).text)
    assert rows["Ada Lovelace"][0] == "revoked" and revoked_at.strftime("%d %b %Y") in rows["Ada Lovelace"][2]
    by_name = {row[0]: row for row in csv_rows(get(live_tool, "/admin/reports/badges.csv", admin))[1:]}
    assert datetime.fromisoformat(by_name["Ada Lovelace"][6]) == revoked_at


def test_the_report_csv_of_badges_keeps_the_formula_guard(app, platform, live_tool):
    earn_badge(app, platform, person="formula")
    export = csv_rows(get(live_tool, "/admin/reports/badges.csv", launch(platform, "admin")))
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in export for cell in row)
    assert export[1][:2] == ["'" + FORMULA_NAME, "'=cmd@evil.example"]


def test_an_instructor_sees_the_badges_of_their_course_only(app, platform, live_tool):
    earn_badge(app, platform)
    earn_badge(app, platform, person="learner-2", context_id="course-2", resource_link_id="activity-2")
    page = get(live_tool, "/admin/reports", launch(platform, "instructor"))
    assert set(badge_rows(page.text)) == {"Ada Lovelace"}
    export = csv_rows(get(live_tool, "/admin/reports/badges.csv", launch(platform, "instructor")))
    assert [row[0] for row in export[1:]] == ["Ada Lovelace"]
    assert set(badge_rows(get(live_tool, "/admin/reports", launch(platform, "admin")).text)) == {
        "Ada Lovelace", "Katherine Johnson"}


@pytest.mark.parametrize("person", ["learner", "assessor"])
def test_the_badges_csv_is_refused_to_others(platform, live_tool, badges, person):
    refused = get(live_tool, "/admin/reports/badges.csv", launch(platform, person))
    assert refused.status_code == 403 and "Lovelace" not in refused.text
