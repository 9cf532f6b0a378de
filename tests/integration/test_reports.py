"""Reports for organizations, through real HTTP from the independent test platform.

A small course whose every figure is known: educators' work is made with the submission services and assessed
with the assessment services (claim, complete, release) at chosen times, so the median time to decision can be
worked out by hand.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from html import unescape

import pytest

from lti_tool.core.models import utcnow
from lti_tool.extensions import db
from tests.factories import assess_work, bring_work_to, resubmit_work
from tests.platform.platform import ROLE

SLUG = "self-assessment-growth"
TITLE = "Educator Self-Assessment and Professional Growth"
COURSE = "course-1"
ACTIVITY = "activity-1"
TERM = "2026-2027 School Year"
FORMULA_NAME = '=HYPERLINK("http://evil.example","x")'


def _member(sub, name, email, roles=(ROLE + "Learner",)):
    given, _, family = name.partition(" ")
    return {"user_id": sub, "name": name, "given_name": given, "family_name": family, "email": email,
            "roles": list(roles), "status": "Active"}


ROSTER = [
    _member("edu-ana", "Ana Earned", "ana@school.example"),
    _member("edu-ben", "Ben Notyet", "ben@school.example"),
    _member("edu-cai", "Cai Resubmit", "cai@school.example"),
    _member("edu-dee", "Dee Waiting", "dee@school.example"),
    _member("edu-eli", "Eli Draft", "eli@school.example"),
    _member("edu-fay", "Fay Fresh", "fay@school.example"),
    _member("edu-formula", FORMULA_NAME, "@evil.example"),
    _member("user-assessor-1", "Alan Turing", "alan@school.example", roles=(ROLE + "Instructor/TeachingAssistant",)),
    _member("user-assessor-2", "Dorothy Vaughan", "dorothy@school.example", roles=(ROLE + "Mentor",)),
]


@pytest.fixture
def course(app, platform, browser, term_opened_long_ago):
    """Seven educators in every place a report counts; each decision released after a known time.

    Time to decision (submission → release): Ana 2 days, Ben 4, Cai 6 then 1 (resubmission) → median 3 days.
    """
    platform.services.add_members(COURSE, ROSTER)
    page = browser.launch(person="instructor", custom={"microcredential": SLUG}, resource_link_id=ACTIVITY,
                          context_id=COURSE)
    assert page.status_code == 200, page.text[:500]
    synced = browser.submit_form(page.response)
    assert synced.status_code == 200, synced.text[:500]

    long_ago = utcnow() - timedelta(days=40)
    submitted = long_ago + timedelta(minutes=5)  # bring_work_to submits five minutes after its start

    def work(sub, step, at=long_ago):
        bring_work_to(app, sub, step, at, course=COURSE, activity=ACTIVITY, slug=SLUG)

    for sub in ("edu-ana", "edu-ben", "edu-cai", "edu-dee"):
        work(sub, "submitted")
    work("edu-eli", "draft")
    work("edu-formula", "new")
    work("edu-fay", "submitted", at=utcnow() - timedelta(days=1))
    assess_work(app, "edu-ana", "earned", submitted + timedelta(days=1), release_at=submitted + timedelta(days=2))
    assess_work(app, "edu-ben", "notyet", submitted + timedelta(days=3), release_at=submitted + timedelta(days=4))
    assess_work(app, "edu-cai", "notyet", submitted + timedelta(days=5), release_at=submitted + timedelta(days=6))
    again = submitted + timedelta(days=8)
    resubmit_work(app, "edu-cai", again - timedelta(minutes=5))
    assess_work(app, "edu-cai", "earned", again + timedelta(hours=12), release_at=again + timedelta(days=1))
    return page


def _admin(browser):
    result = browser.launch(person="admin", resource_link_id=ACTIVITY, context_id=COURSE,
                            custom={"microcredential": SLUG})
    assert result.status_code == 200, result.text[:500]
    assert result.ltik
    return result.ltik


def _report(browser, live_tool, ltik, path="/admin/reports", **params):
    return browser.get(live_tool.url + path, params={"ltik": ltik, **params})


def _figures(html: str) -> dict[str, dict[str, str]]:
    table = html.split('id="figures"', 1)[1].split("</table>", 1)[0]
    lines = {}
    for row in re.findall(r"<tr data-microcredential=.*?</tr>", table, re.S):
        title = unescape(re.search(r'<th scope="row">(.*?)</th>', row, re.S).group(1))
        lines[title] = {k: re.sub(r"<[^>]+>", "", v).strip()
                        for k, v in re.findall(r'data-figure="(\w+)">(.*?)</td>', row, re.S)}
    return lines


def _follow_up(html: str) -> list[tuple[str, str, str]]:
    table = html.split('id="follow-up"', 1)[1].split("</table>", 1)[0]
    rows = []
    for row in re.findall(r'<tr data-standing="(\w+)">(.*?)</tr>', table, re.S):
        cells = [unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row[1], re.S)]
        rows.append((cells[0], cells[1], row[0]))
    return rows


def test_the_figures_are_exact_for_a_known_course(browser, live_tool, course):
    page = _report(browser, live_tool, _admin(browser))
    assert page.status_code == 200, page.text[:500]
    assert _figures(page.text) == {TITLE: {
        "enrolled": "7", "submitted": "5", "in_assessment": "2", "earned": "2", "not_yet": "1",
        "resubmitted": "1", "overdue": "1", "median_days": "3.0 days (4 decisions)",
    }}
    assert TERM in page.text


def test_the_follow_up_list_names_who_did_not_earn_with_their_contact(browser, live_tool, course):
    page = _report(browser, live_tool, _admin(browser))
    people = _follow_up(page.text)
    assert sorted(people) == sorted([
        ("Ben Notyet", "ben@school.example", "not_yet"),
        ("Dee Waiting", "dee@school.example", "in_assessment"),
        ("Eli Draft", "eli@school.example", "not_submitted"),
        ("Fay Fresh", "fay@school.example", "in_assessment"),
        (FORMULA_NAME, "@evil.example", "not_submitted"),
    ])
    follow_up = page.text.split('id="follow-up"', 1)[1].split("</table>", 1)[0]
    assert "Ana Earned" not in follow_up and "Cai Resubmit" not in follow_up  # they earned: listed under Badges
    assert 'href="mailto:ben@school.example"' in page.text
    assert "Alan Turing" not in page.text  # assessors are not educators


def test_the_chart_is_an_svg_with_a_title_a_description_and_one_bar_per_line(browser, live_tool, course):
    page = _report(browser, live_tool, _admin(browser))
    svg = page.text.split("<svg", 1)[1].split("</svg>", 1)[0]
    assert 'role="img"' in svg and 'aria-labelledby="chart-title chart-desc"' in svg
    assert re.search(r'<title id="chart-title">[^<]+</title>', svg)
    desc = unescape(re.search(r'<desc id="chart-desc">(.*?)</desc>', svg, re.S).group(1))
    assert f"{TITLE}, {TERM}: 7 enrolled — 2 earned, 1 not yet, 2 in assessment, 2 not submitted." == desc
    assert sorted(re.findall(r'data-standing="(\w+)"', svg)) == ["earned", "in_assessment", "not_submitted",
                                                                "not_yet"]
    assert "<table" in page.text and "<caption>" in page.text  # the same figures, as a table


def test_the_csv_exports_are_attachments_with_formulas_neutralised(browser, live_tool, course):
    ltik = _admin(browser)
    summary = _report(browser, live_tool, ltik, path="/admin/reports.csv")
    assert summary.status_code == 200
    assert summary.headers["Content-Type"].startswith("text/csv")
    assert summary.headers["Content-Disposition"].startswith("attachment;")
    table = list(csv.reader(io.StringIO(summary.content.decode("utf-8-sig"))))
    assert table[0][:3] == ["Micro-credential", "Term", "Enrolled"]
    assert table[1] == [TITLE, TERM, "7", "5", "2", "2", "1", "2", "1", "1", "3.00", "4"]

    follow_up = _report(browser, live_tool, ltik, path="/admin/reports/follow-up.csv")
    assert follow_up.status_code == 200
    assert follow_up.headers["Content-Disposition"].startswith("attachment;")
    rows = list(csv.reader(io.StringIO(follow_up.content.decode("utf-8-sig"))))
    assert rows[0] == ["Name", "Email", "Micro-credential", "Term", "Course", "Where they stand", "Attempt"]
    by_name = {row[0]: row for row in rows[1:]}
    assert "'" + FORMULA_NAME in by_name
    assert by_name["'" + FORMULA_NAME][1] == "'@evil.example"
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
    assert by_name["Ben Notyet"][1:] == ["ben@school.example", TITLE, TERM, "Professional Learning 2026",
                                         "Not yet", "1"]


def test_a_term_filter_narrows_the_report_and_an_unknown_term_means_all(browser, live_tool, course):
    ltik = _admin(browser)
    chosen = _report(browser, live_tool, ltik, term="2026-2027")
    assert _figures(chosen.text)[TITLE]["enrolled"] == "7"
    assert _figures(_report(browser, live_tool, ltik, term="no-such-term").text)[TITLE]["enrolled"] == "7"


def test_the_admin_home_links_to_the_reports(browser, live_tool, course):
    ltik = _admin(browser)
    home = browser.get(live_tool.url + "/admin/", params={"ltik": ltik})
    assert home.status_code == 200
    assert "/admin/reports?ltik=" in home.text


@pytest.mark.parametrize("person", ["learner", "assessor", "guest"])
def test_reports_are_refused_to_people_who_are_not_admins_or_instructors(browser, live_tool, course, person):
    result = browser.launch(person=person, resource_link_id=ACTIVITY, context_id=COURSE,
                            custom={"microcredential": SLUG})
    ltik = result.ltik
    if ltik is None:  # a person the tool does not let in at all has no launch reference to try
        ltik = re.search(r'ltik=([\w.\-]+)', result.text).group(1) if "ltik=" in result.text else "none"
    for path in ("/admin/reports", "/admin/reports.csv", "/admin/reports/follow-up.csv"):
        refused = _report(browser, live_tool, ltik, path=path)
        assert refused.status_code == 403, (path, refused.status_code)
        assert "Ben Notyet" not in refused.text and "ben@school.example" not in refused.text


def test_reports_need_a_launch(browser, live_tool, course):
    for path in ("/admin/reports", "/admin/reports.csv"):
        refused = browser.get(live_tool.url + path)
        assert refused.status_code == 403
        assert "Ben Notyet" not in refused.text


def test_an_instructor_sees_the_report_of_their_own_course_only(app, browser, live_tool, course):
    _other_course_on_this_platform(app)
    page = browser.launch(person="instructor", custom={"microcredential": SLUG}, resource_link_id=ACTIVITY,
                          context_id=COURSE)
    report = _report(browser, live_tool, page.ltik)
    assert report.status_code == 200
    assert _figures(report.text)[TITLE]["enrolled"] == "7"
    assert "Olga Othercourse" not in report.text
    admin_report = _report(browser, live_tool, _admin(browser))
    assert _figures(admin_report.text)[TITLE]["enrolled"] == "8"  # the admin sees every course of the platform
    assert "Olga Othercourse" in admin_report.text


def test_an_admin_never_sees_another_platforms_educators(app, browser, live_tool, course):
    _course_on_another_platform(app)
    ltik = _admin(browser)
    for path in ("/admin/reports", "/admin/reports/follow-up.csv", "/admin/reports.csv"):
        page = _report(browser, live_tool, ltik, path=path)
        assert page.status_code == 200
        assert "Zed Otherplatform" not in page.text and "zed@other.example" not in page.text
    assert _figures(_report(browser, live_tool, ltik).text)[TITLE]["enrolled"] == "7"


def test_an_empty_platform_says_so(browser, live_tool, platform, catalog):
    ltik = _admin(browser)
    page = _report(browser, live_tool, ltik)
    assert page.status_code == 200
    assert "No educator has enrolled" in page.text


# -- other courses and platforms ----------------------------------------------------------------------------
def _enroll_somewhere(app, registration, course_id: str, sub: str, name: str, email: str) -> None:
    from lti_tool.catalog.services import current_term, get_microcredential
    from lti_tool.lti.models import Context, Deployment, LtiUser, ResourceLink
    from lti_tool.submissions import services

    deployment = db.session.scalar(db.select(Deployment).where(Deployment.registration_id == registration.id))
    context = Context(deployment=deployment, context_id=course_id, title=f"Course {course_id}")
    link = ResourceLink(context=context, resource_link_id=f"{course_id}-link", microcredential_slug=SLUG)
    user = LtiUser(registration=registration, sub=sub, name=name, email=email)
    db.session.add_all([context, link, user])
    db.session.flush()
    services.enroll(user, get_microcredential(SLUG), current_term(), link)
    db.session.commit()


def _other_course_on_this_platform(app) -> None:
    from lti_tool.lti.models import Context

    with app.app_context():
        registration = db.session.scalar(db.select(Context).where(Context.context_id == COURSE)).deployment.registration
        _enroll_somewhere(app, registration, "course-2", "edu-olga", "Olga Othercourse", "olga@school.example")


def _course_on_another_platform(app) -> None:
    from lti_tool.lti.models import Deployment, Registration

    with app.app_context():
        registration = Registration(name="Other LMS", issuer="https://other-lms.example", client_id="other",
                                    auth_login_url="https://other-lms.example/auth",
                                    auth_token_url="https://other-lms.example/token")
        registration.deployments = [Deployment(deployment_id="other-1")]
        db.session.add(registration)
        db.session.flush()
        _enroll_somewhere(app, registration, COURSE, "edu-zed", "Zed Otherplatform", "zed@other.example")


# -- long lists: paged in SQL, exports streamed -------------------------------------------------------------
FOLLOW_UP_CSV = [  # the known course's follow-up export, every cell, in the report's order (name, then email)
    ["'" + FORMULA_NAME, "'@evil.example", TITLE, TERM, "Professional Learning 2026", "Not submitted", "1"],
    ["Ben Notyet", "ben@school.example", TITLE, TERM, "Professional Learning 2026", "Not yet", "1"],
    ["Dee Waiting", "dee@school.example", TITLE, TERM, "Professional Learning 2026", "In assessment", "1"],
    ["Eli Draft", "eli@school.example", TITLE, TERM, "Professional Learning 2026", "Not submitted", "1"],
    ["Fay Fresh", "fay@school.example", TITLE, TERM, "Professional Learning 2026", "In assessment", "1"],
]


@pytest.fixture
def pages_of_two(app):
    saved = app.config["REPORT_PAGE_SIZE"]
    app.config["REPORT_PAGE_SIZE"] = 2
    yield
    app.config["REPORT_PAGE_SIZE"] = saved


def _csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def _next_link(html: str, label: str) -> str | None:
    nav = re.search(rf'<nav class="actions" aria-label="{label}">(.*?)</nav>', html, re.S)
    link = nav and re.search(r'<a rel="next" href="([^"]+)"', nav.group(1))
    return unescape(link.group(1)) if link else None


def test_the_follow_up_list_is_read_a_page_at_a_time_in_the_reports_order(browser, live_tool, course,
                                                                          pages_of_two):
    ltik = _admin(browser)
    page = _report(browser, live_tool, ltik)
    seen, captions = [], []
    while True:
        assert page.status_code == 200, page.text[:500]
        seen.append(_follow_up(page.text))
        captions.append(unescape(re.search(r'id="follow-up">\s*<caption>(.*?)</caption>', page.text, re.S).group(1)))
        following = _next_link(page.text, "Pages of the follow-up list")
        if following is None:
            break
        assert "#follow-up-heading" in following  # the person lands on the list, not the top of the report
        page = browser.get(live_tool.url + following)
    assert [len(rows) for rows in seen] == [2, 2, 1]
    assert [name for rows in seen for name, _, _ in rows] == [row[0].removeprefix("'") for row in FOLLOW_UP_CSV]
    assert captions == ["5 educators who did not earn yet · showing 1–2", "5 educators who did not earn yet · "
                        "showing 3–4", "5 educators who did not earn yet · showing 5–5"]
    assert 'rel="prev"' in page.text and "Page 3 of 3" in page.text
    assert _figures(page.text)[TITLE]["enrolled"] == "7"  # the figures count everyone, whatever the page


def test_the_badges_are_paged_on_their_own(browser, live_tool, course, pages_of_two):
    ltik = _admin(browser)
    first = _report(browser, live_tool, ltik, page="3")
    assert "Ana Earned" in first.text and "Cai Resubmit" in first.text  # two badges: one page, no page links
    assert _next_link(first.text, "Pages of the badges") is None
    assert _follow_up(first.text) == [("Fay Fresh", "fay@school.example", "in_assessment")]


@pytest.mark.parametrize(("page", "shown"), [
    ("99", ["Fay Fresh"]),  # beyond the end: the last page
    ("9" * 30, [FORMULA_NAME, "Ben Notyet"]),  # beyond any id: the first page, never a database error
    ("-1", [FORMULA_NAME, "Ben Notyet"]), ("0", [FORMULA_NAME, "Ben Notyet"]),
    ("two", [FORMULA_NAME, "Ben Notyet"]), ("", [FORMULA_NAME, "Ben Notyet"]),
])
def test_a_page_number_out_of_range_or_unreadable_shows_the_nearest_page(browser, live_tool, course, pages_of_two,
                                                                        page, shown):
    ltik = _admin(browser)
    answer = _report(browser, live_tool, ltik, page=page, badges_page=page, term="no-such-term")
    assert answer.status_code == 200, answer.text[:500]
    assert [name for name, _, _ in _follow_up(answer.text)] == shown
    assert _figures(answer.text)[TITLE]["enrolled"] == "7"  # an unknown term: every term


def test_the_follow_up_csv_is_streamed_with_every_row_in_order(browser, live_tool, course, pages_of_two):
    ltik = _admin(browser)
    with browser.session.get(live_tool.url + "/admin/reports/follow-up.csv", params={"ltik": ltik}, stream=True,
                             timeout=10) as streamed:
        assert streamed.status_code == 200
        assert streamed.headers.get("Transfer-Encoding") == "chunked" and "Content-Length" not in streamed.headers
        chunks = list(streamed.raw.read_chunked())
    rows = list(csv.reader(io.StringIO(b"".join(chunks).decode("utf-8-sig"))))
    assert rows == [["Name", "Email", "Micro-credential", "Term", "Course", "Where they stand", "Attempt"],
                    *FOLLOW_UP_CSV]  # every row, though the page shows two at a time


def test_every_csv_export_is_streamed(browser, live_tool, course):
    ltik = _admin(browser)
    for path in ("/admin/reports.csv", "/admin/reports/follow-up.csv", "/admin/reports/badges.csv"):
        with browser.session.get(live_tool.url + path, params={"ltik": ltik}, stream=True, timeout=10) as streamed:
            assert streamed.status_code == 200, path
            assert streamed.headers.get("Transfer-Encoding") == "chunked", path
            assert streamed.headers["Content-Disposition"].startswith("attachment;"), path
            assert "Content-Length" not in streamed.headers, path
            assert b"".join(streamed.raw.read_chunked()).startswith("\ufeff".encode()), path


# -- the figures against a recount in Python, on a platform in every state ----------------------------------
def _recount(app, issuer: str) -> dict:
    """The report's rules counted in Python over the ORM objects of one platform (the code before it counted in
    SQL): figures, the follow-up list in order, the number of badges."""
    from statistics import median

    from lti_tool.assessment.models import Assessment
    from lti_tool.badges.models import Badge
    from lti_tool.lti.models import Registration
    from lti_tool.submissions.models import Enrollment

    now = utcnow()
    with app.app_context():
        registration = db.session.scalar(db.select(Registration).where(Registration.issuer == issuer))
        figures = dict.fromkeys(("enrolled", "submitted", "earned", "not_yet", "in_assessment", "not_submitted",
                                 "resubmitted", "overdue"), 0)
        seconds, follow_up, badges = [], [], 0
        for enrollment in db.session.scalars(db.select(Enrollment)):
            if enrollment.resource_link.context.deployment.registration_id != registration.id:
                continue
            assessments = [a for attempt in enrollment.attempts for a in db.session.scalars(
                db.select(Assessment).where(Assessment.attempt_id == attempt.id))]
            released = [a for a in assessments if a.released_at is not None]
            if any(a.decision == "earned" for a in released):
                standing = "earned"
            elif len(released) < len(assessments):
                standing = "in_assessment"
            else:
                standing = "not_yet" if released else "not_submitted"
            figures["enrolled"] += 1
            figures[standing] += 1
            figures["submitted"] += bool(assessments or any(t.submitted_at for t in enrollment.attempts))
            figures["resubmitted"] += bool(enrollment.attempts and enrollment.attempts[-1].number >= 2)
            figures["overdue"] += sum(1 for a in assessments if a.released_at is None and a.due_at < now)
            seconds += [(a.released_at - a.submitted_at).total_seconds() for a in released]
            if standing != "earned":
                user = enrollment.user
                follow_up.append((user.display_name.casefold(), user.email, user.display_name, standing))
            badges += db.session.scalar(db.select(db.func.count(Badge.id)).where(Badge.enrollment_id == enrollment.id))
    return {"figures": figures, "median_days": median(seconds) / 86400, "decided": len(seconds),
            "follow_up": [(name, standing) for *_, name, standing in sorted(follow_up)], "badges": badges}


def test_the_figures_equal_a_recount_in_python_of_a_platform_in_every_state(app, browser, live_tool, platform,
                                                                           catalog, running_term):
    from bench.reports import Seeder

    with app.app_context():
        Seeder(platform).grow_to(143)  # every state and kind of resubmission, in 8 courses
    expected = _recount(app, platform.issuer)
    assert all(expected["figures"].values()) and expected["badges"]  # every place has educators in it
    ltik = _admin(browser)
    page = _report(browser, live_tool, ltik)
    shown = _figures(page.text)[TITLE]
    figures = expected["figures"]
    assert shown == {key: str(figures[key]) for key in ("enrolled", "submitted", "in_assessment", "earned", "not_yet",
                                                        "resubmitted", "overdue")} | {
        "median_days": f"{expected['median_days']:.1f} days ({expected['decided']} decisions)"}
    summary = _csv_rows(_report(browser, live_tool, ltik, path="/admin/reports.csv"))[1]
    assert summary[2:] == [str(figures[k]) for k in ("enrolled", "submitted", "in_assessment", "earned", "not_yet",
                                                     "not_submitted", "resubmitted", "overdue")] + [
        f"{expected['median_days']:.2f}", str(expected["decided"])]
    names = {"Not yet": "not_yet", "In assessment": "in_assessment", "Not submitted": "not_submitted"}
    follow_up = _csv_rows(_report(browser, live_tool, ltik, path="/admin/reports/follow-up.csv"))[1:]
    assert [(row[0], names[row[5]]) for row in follow_up] == expected["follow_up"]
    assert len(_csv_rows(_report(browser, live_tool, ltik, path="/admin/reports/badges.csv"))) - 1 == expected["badges"]
    caption = re.search(r'id="badges">\s*<caption>(\d+) badges', page.text).group(1)
    assert int(caption) == expected["badges"]
