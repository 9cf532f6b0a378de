"""Several first openings of the submission page at once (a double click, two tabs, a reload): every one answers
with the page, and exactly one enrollment and one attempt exist. Runs on SQLite and, with DATABASE_URL set, on
PostgreSQL (CI runs the suite on both)."""

from __future__ import annotations

import threading
from datetime import timedelta
from urllib.parse import urljoin

import pytest

from tests.platform.browser import PlatformBrowser

pytestmark = pytest.mark.usefixtures("running_term")

SLUG = "self-assessment-growth"
AT_ONCE = 8


def _together(task, count: int = AT_ONCE) -> list:
    """task(i) in `count` threads released together; the answers (or the exception each raised)."""
    start = threading.Barrier(count)
    answers: list = [None] * count

    def run(i):
        start.wait()
        try:
            answers[i] = task(i)
        except Exception as error:  # noqa: BLE001 - reported by the assertions
            answers[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return answers


def _counts(app) -> tuple[int, int, int]:
    """(enrollments, attempts, seats taken) in the whole database."""
    from lti_tool.extensions import db
    from lti_tool.submissions.models import Attempt, Enrollment, EnrollmentQuota

    with app.app_context():
        count = db.select(db.func.count())
        return (db.session.scalar(count.select_from(Enrollment)), db.session.scalar(count.select_from(Attempt)),
                db.session.scalar(db.select(db.func.coalesce(db.func.sum(EnrollmentQuota.enrolled_count), 0))))


def _described(answers) -> list:
    return [a if isinstance(a, Exception) else (a.status_code, a.url, a.text[:300]) for a in answers]


def _all_show_the_page(answers) -> None:
    assert all(not isinstance(a, Exception) for a in answers), _described(answers)
    assert all(a.status_code == 200 and "/submission/" in a.url for a in answers), _described(answers)
    assert all('id="attempt-form"' in a.text for a in answers), _described(answers)


def test_one_launch_opened_eight_times_at_once_enrolls_once_with_one_attempt(app, platform, catalog):
    """The launch's redirect followed by eight requests at once (a double click on a reload, several tabs)."""
    launcher = PlatformBrowser(platform)
    login, _ = platform.next_launch(person="learner", custom={"microcredential": SLUG})
    id_token, state = launcher.authorize(launcher.start_login(login))
    landed = launcher.post_launch(id_token, state, follow=False)
    assert landed.status_code == 303, landed.text[:500]
    location = urljoin(landed.url, landed.headers["Location"])
    assert _counts(app) == (0, 0, 0)  # nothing is created before the page is first opened

    def open_page(_):
        tab = PlatformBrowser(platform)
        tab.session.cookies.update(launcher.session.cookies)
        return tab.get(location)

    answers = _together(open_page)

    _all_show_the_page(answers)
    assert _counts(app) == (1, 1, 1)
    attempt_ids = {_field(a.text, "attempt_id") for a in answers}
    assert len(attempt_ids) == 1, attempt_ids


def test_eight_launches_of_the_same_person_at_once_enroll_once_with_one_attempt(app, platform, catalog):
    """The same person launching from the LMS eight times at the same moment (the launch POSTs released together)."""
    tabs = []
    for _ in range(AT_ONCE):
        tab = PlatformBrowser(platform)
        login, _ = platform.next_launch(person="learner", custom={"microcredential": SLUG})
        tabs.append((tab, *tab.authorize(tab.start_login(login))))

    answers = _together(lambda i: tabs[i][0].post_launch(tabs[i][1], tabs[i][2]))

    _all_show_the_page(answers)
    assert _counts(app) == (1, 1, 1)
    assert len({_field(a.text, "attempt_id") for a in answers}) == 1


def test_a_start_in_a_new_term_opened_eight_times_at_once_has_one_attempt(app, platform, catalog):
    """Enrolled in the new term (Start in …) and its page then opened eight times at once: the enrollment exists
    and has no attempt yet, so every opening races on attempt 1 alone (on PostgreSQL too, where the seat's row
    lock does not order them)."""
    launcher, page = _page_of_an_earlier_term(platform)
    new_term = _move_to_a_new_term(app)
    page = launcher.get(page.url)
    started = launcher.post(urljoin(page.url, "/submission/start"), data=_start_form(page), allow_redirects=False)
    assert started.status_code == 303, started.text[:500]
    assert _attempts_per_enrollment(app) == [1, 0]
    location = urljoin(started.url, started.headers["Location"])

    def open_page(_):
        tab = PlatformBrowser(platform)
        tab.session.cookies.update(launcher.session.cookies)
        return tab.get(location)

    answers = _together(open_page)

    _all_show_the_page(answers)
    assert _attempts_per_enrollment(app) == [1, 1]
    assert len({_field(a.text, "attempt_id") for a in answers}) == 1
    assert _seats(app, new_term) == 1


def test_start_in_a_new_term_pressed_eight_times_at_once_enrolls_once_and_takes_one_seat(app, platform, catalog):
    launcher, page = _page_of_an_earlier_term(platform)
    new_term = _move_to_a_new_term(app, earner_limit=5)
    page = launcher.get(page.url)
    start = _start_form(page)

    def press(_):
        tab = PlatformBrowser(platform)
        tab.session.cookies.update(launcher.session.cookies)
        return tab.post(urljoin(page.url, "/submission/start"), data=start)

    answers = _together(press)

    _all_show_the_page(answers)
    assert _attempts_per_enrollment(app) == [1, 1]
    assert len({_field(a.text, "attempt_id") for a in answers}) == 1
    assert _seats(app, new_term) == 1


# -- helpers ------------------------------------------------------------------------------------------------
def _page_of_an_earlier_term(platform):
    """The educator's first page in the sample term (attempt 1 exists there)."""
    browser = PlatformBrowser(platform)
    result = browser.launch(person="learner", custom={"microcredential": SLUG})
    assert result.status_code == 200 and "/submission/" in result.url, result.text[:500]
    return browser, result.response


def _move_to_a_new_term(app, *, earner_limit: int | None = None) -> int:
    """The sample terms' enrollment closed (their deadline passed); a new term's enrollment is open today: its id."""
    from lti_tool.catalog.models import Term
    from lti_tool.core.models import utcnow
    from lti_tool.extensions import db

    with app.app_context():
        now = utcnow()
        for old in db.session.scalars(db.select(Term)):
            old.enrollment_opens_at = now - timedelta(days=120)
            old.enrollment_closes_at = now - timedelta(days=90)
            old.recommended_submission_at = now - timedelta(days=60)
            old.final_deadline_at = now - timedelta(days=1)
        new = Term(key="next-term", title="The Next Term", enrollment_opens_at=now - timedelta(days=2),
                   enrollment_closes_at=now + timedelta(days=30), recommended_submission_at=now + timedelta(days=40),
                   final_deadline_at=now + timedelta(days=60), time_zone="UTC", earner_limit=earner_limit)
        db.session.add(new)
        db.session.commit()
        return new.id


def _start_form(page) -> dict:
    """The fields of the page's "Start in The Next Term" form."""
    from tests.platform.browser import forms_in

    return next(f["fields"] for f in forms_in(page.text) if f["fields"].get("term_id"))


def _attempts_per_enrollment(app) -> list[int]:
    from lti_tool.extensions import db
    from lti_tool.submissions.models import Enrollment

    with app.app_context():
        return [len(e.attempts) for e in db.session.scalars(db.select(Enrollment).order_by(Enrollment.id))]


def _seats(app, term_id: int) -> int:
    from lti_tool.extensions import db
    from lti_tool.submissions.models import EnrollmentQuota

    with app.app_context():
        return db.session.scalar(db.select(EnrollmentQuota.enrolled_count).where(EnrollmentQuota.term_id == term_id))


def _field(page: str, name: str) -> str:
    from tests.platform.browser import forms_in

    form = next(f for f in forms_in(page) if f["id"] == "attempt-form")
    return form["fields"][name]
