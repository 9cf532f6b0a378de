"""The educator's submission page, through real HTTP and the independent platform."""

from __future__ import annotations

import html
import re
import threading
from datetime import timedelta

import pytest

from tests.nothing_changed import nothing_changes
from tests.platform.browser import PlatformBrowser, forms_in

pytestmark = pytest.mark.usefixtures("running_term")  # the sample term runs today, whatever the date

SLUG = "self-assessment-growth"
TITLE = "Educator Self-Assessment and Professional Growth"
SCRIPT = "<script>alert(1)</script>"
ESCAPED_SCRIPT = "&lt;script&gt;alert(1)&lt;/script&gt;"



def _launch(browser, person="learner", **plan):
    plan.setdefault("custom", {"microcredential": SLUG})
    result = browser.launch(person=person, **plan)
    return result


def _page(browser, **plan):
    result = _launch(browser, **plan)
    assert result.status_code == 200, result.text[:500]
    assert "/submission/" in result.url
    return result.response


def _hidden(response) -> dict:
    return forms_in(response.text)[0]["fields"]


def _post(browser, response, follow=True, **values):
    """Post the main form of the page as the browser would, with the text given."""
    fields = {"ltik": _hidden(response)["ltik"], "attempt_id": _hidden(response)["attempt_id"],
              "version": _hidden(response)["version"], **values}
    return browser.post(_url(response, "/submission/"), data=fields, allow_redirects=follow)


def _complete(browser, response, **extra):
    values = {"overview": "My goal and plan.", "reflection": "What changed for my students.",
              "collaboration": "no", "collaborators": "", "action": "save", **extra}
    saved = _post(browser, response, **values)
    assert saved.status_code == 200, saved.text[:500]
    linked = browser.post(_url(response, "/submission/links"),
                          data={**_ids(response), "artifact_url": "https://example.org/plan.pdf",
                                "artifact_title": "My plan"})
    assert linked.status_code == 200, linked.text[:500]
    return linked


def _url(response, path: str) -> str:
    origin = re.match(r"^(https?://[^/]+)", response.url).group(1)
    return origin + path


def _ids(response) -> dict:
    fields = _hidden(response)
    return {"ltik": fields["ltik"], "attempt_id": fields["attempt_id"]}


def _attempt(app, attempt_id):
    from lti_tool.extensions import db
    from lti_tool.submissions.models import Attempt

    with app.app_context():
        attempt = db.session.get(Attempt, int(attempt_id))
        db.session.expunge(attempt)
        return attempt


def _artifact_count(app) -> int:
    from lti_tool.extensions import db
    from lti_tool.submissions.models import Artifact

    with app.app_context():
        return db.session.scalar(db.select(db.func.count()).select_from(Artifact))


def _scores(app) -> list[tuple[str, str]]:
    from lti_tool.extensions import db
    from lti_tool.gradebook.models import OutboxMessage

    with app.app_context():
        messages = db.session.scalars(db.select(OutboxMessage).order_by(OutboxMessage.id))
        return [(m.payload["activityProgress"], m.payload["gradingProgress"]) for m in messages]


def _status(response) -> str:
    return re.search(r'data-status="(\w+)"', response.text).group(1)


# -- first visit, drafts ------------------------------------------------------------------------------------
def test_first_visit_enrolls_and_shows_attempt_one_with_its_status(app, browser, catalog):
    response = _page(browser)
    text = response.text
    assert TITLE in text
    assert "This is attempt 1." in text
    assert _status(response) == "new"
    assert "No submission yet" in text and "Not graded" in text
    assert "Due date" in text and "Time remaining" in text and "Recommended submission date" in text
    assert f"/catalog/{SLUG}?ltik=" in text
    # the three parts, always in this order, each with its prompts
    positions = [text.index(f'id="part-{part}"') for part in ("overview", "artifacts", "reflection", "collaboration")]
    assert positions == sorted(positions)
    assert "Which standard or indicator did you choose" in text
    assert "Upload or link your completed self-assessment" in text
    assert "How will you continue to use self-assessment" in text
    for name in ('name="overview"', 'name="reflection"', 'name="collaboration"', 'name="collaborators"',
                 'name="artifact_url"', 'name="artifact_title"', 'value="save"', 'value="submit"'):
        assert name in text

    from lti_tool.extensions import db
    from lti_tool.submissions.models import Enrollment

    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Enrollment)) == 1
    again = _page(browser)  # a second launch: the same enrollment and attempt
    assert _hidden(again)["attempt_id"] == _hidden(response)["attempt_id"]


def test_saving_keeps_a_draft_and_queues_one_in_progress_score(app, browser, catalog):
    response = _page(browser)
    saved = _post(browser, response, action="save", overview="First thoughts", reflection="", collaboration="yes",
                  collaborators="Grace")
    assert saved.status_code == 200
    assert "Saved." in saved.text
    assert _status(saved) == "draft"
    assert "First thoughts" in saved.text and 'value="Grace"' in saved.text
    assert _scores(app) == [("InProgress", "NotReady")]

    again = _post(browser, saved, action="save", overview="Second thoughts")
    assert again.status_code == 200 and "Second thoughts" in again.text
    assert _scores(app) == [("InProgress", "NotReady")]  # still a draft: nothing more for the gradebook
    attempt = _attempt(app, _hidden(saved)["attempt_id"])
    assert (attempt.overview, attempt.collaborated, attempt.collaborators) == ("Second thoughts", True, "Grace")


def test_submit_with_empty_parts_names_each_missing_part(browser, catalog):
    response = _page(browser)
    confirm = _post(browser, response, action="submit", overview="", reflection="")
    assert confirm.status_code == 200
    assert "/submission/confirm" in confirm.url
    for name in ("Overview", "Work examples and artifacts", "Reflection", "Collaboration statement"):
        assert name in confirm.text
    assert 'value="confirm"' not in confirm.text


def test_a_full_submit_asks_for_confirmation_then_locks_the_attempt(app, browser, catalog):
    response = _page(browser)
    page = _complete(browser, response)
    confirm = _post(browser, page, action="submit", overview="My goal and plan, revised.")
    assert "Submit attempt 1?" in confirm.text and "Nothing can change after it." in confirm.text
    assert _scores(app) == [("InProgress", "NotReady")]

    done = browser.submit_form(confirm, action="confirm")
    assert done.status_code == 200, done.text[:500]
    assert _status(done) == "submitted"
    assert "My goal and plan, revised." in done.text
    for control in ('<textarea', 'value="save"', 'value="submit"', 'name="artifact_url"', ">Remove<"):
        assert control not in done.text
    assert _scores(app) == [("InProgress", "NotReady"), ("Submitted", "PendingManual")]

    # the same confirmation posted again (a double click, another tab): refused plainly, nothing changes
    with nothing_changes(app):
        twice = browser.submit_form(confirm, action="confirm")
    assert twice.status_code == 409
    assert "already submitted" in twice.text
    assert _scores(app) == [("InProgress", "NotReady"), ("Submitted", "PendingManual")]
    with nothing_changes(app):
        late = _post(browser, confirm, action="save", overview="Changed after submitting")
    assert late.status_code == 409
    assert "Changed after submitting" in late.text  # given back, not lost
    assert _attempt(app, _hidden(response)["attempt_id"]).overview == "My goal and plan, revised."


def test_a_stale_save_is_refused_and_gives_the_text_back(app, browser, catalog):
    old_tab = _page(browser)
    new_tab = _post(browser, old_tab, action="save", overview="Saved from the new tab")
    assert new_tab.status_code == 200

    with nothing_changes(app):
        stale = _post(browser, old_tab, action="save", overview="Typed in the old tab", reflection="Old reflection")
    assert stale.status_code == 409
    assert "Typed in the old tab" in stale.text and "Old reflection" in stale.text
    assert "Saved from the new tab" in stale.text  # what is saved now, to compare
    assert _attempt(app, _hidden(old_tab)["attempt_id"]).overview == "Saved from the new tab"

    kept = browser.submit_form(stale, action="save", overview="Typed in the old tab", reflection="Old reflection")
    assert kept.status_code == 200 and "Saved." in kept.text
    assert _attempt(app, _hidden(old_tab)["attempt_id"]).overview == "Typed in the old tab"


def test_autosave_answers_json_and_refuses_a_stale_version(app, browser, catalog):
    response = _page(browser)
    fields = _hidden(response)
    url = _url(response, "/submission/autosave")
    headers = {"X-Launch-Token": fields["ltik"], "Accept": "application/json"}
    body = {"attempt_id": fields["attempt_id"], "version": fields["version"], "overview": "Typing…"}

    saved = browser.post(url, data=body, headers=headers)
    assert saved.status_code == 200
    answer = saved.json()
    assert answer["version"] == int(fields["version"]) + 1 and answer["saved_at"]
    assert _scores(app) == [("InProgress", "NotReady")]

    with nothing_changes(app):
        stale = browser.post(url, data={**body, "overview": "From an old page"}, headers=headers)
    assert stale.status_code == 409
    assert stale.json()["error"] == "stale"
    assert stale.json()["values"]["overview"] == "From an old page"
    assert _attempt(app, fields["attempt_id"]).overview == "Typing…"

    with nothing_changes(app):
        forged = browser.post(url, data=body, headers={"X-Launch-Token": "forged", "Accept": "application/json"})
    assert forged.status_code == 401
    assert forged.json()["values"]["overview"] == "Typing…"


def test_an_expired_launch_while_typing_gives_the_text_back(app, browser, catalog):
    response = _page(browser)
    app.config["LTI_SESSION_MAX_AGE"], max_age = -1, app.config["LTI_SESSION_MAX_AGE"]
    try:
        with nothing_changes(app):
            expired = _post(browser, response, action="save", overview="An hour of careful writing")
    finally:
        app.config["LTI_SESSION_MAX_AGE"] = max_age
    assert expired.status_code == 401
    assert "An hour of careful writing" in expired.text
    assert "Open the activity again from your course" in expired.text


# -- safety ----------------------------------------------------------------------------------------------------
def test_script_in_every_text_field_is_escaped(app, browser, catalog):
    response = _page(browser)
    saved = _post(browser, response, action="save", overview=SCRIPT, reflection=SCRIPT, collaboration="yes",
                  collaborators=SCRIPT)
    linked = browser.post(_url(response, "/submission/links"),
                          data={**_ids(response), "artifact_url": "https://example.org/?q=<script>alert(1)</script>",
                                "artifact_title": SCRIPT})
    for page, fields in ((saved, 3), (linked, 4)):  # overview, reflection, collaborators; then the link's caption
        assert SCRIPT not in page.text
        assert page.text.count(ESCAPED_SCRIPT) >= fields
    with nothing_changes(app):
        stale = _post(browser, response, action="save", overview=SCRIPT)
    assert stale.status_code == 409 and SCRIPT not in stale.text and ESCAPED_SCRIPT in stale.text


def test_a_link_is_shown_safely_and_javascript_links_are_refused(app, browser, catalog):
    response = _page(browser)
    with nothing_changes(app):
        refused = browser.post(_url(response, "/submission/links"),
                               data={**_ids(response), "artifact_url": "javascript:alert(1)", "artifact_title": "x"})
    assert refused.status_code == 400
    assert "http:// or https://" in refused.text
    assert _artifact_count(app) == 0

    linked = browser.post(_url(response, "/submission/links"),
                          data={**_ids(response), "artifact_url": "https://example.org/video", "artifact_title": ""})
    anchor = re.search(r'<a href="https://example.org/video"[^>]*>', linked.text).group(0)
    assert 'rel="noopener noreferrer"' in anchor and 'target="_blank"' in anchor
    assert "javascript:" not in linked.text


def test_another_educator_cannot_see_or_post_to_this_attempt(app, platform, catalog):
    ada = PlatformBrowser(platform)
    ada_page = _page(ada)
    _post(ada, ada_page, action="save", overview="Ada's private overview")

    other = PlatformBrowser(platform)
    other_page = _page(other, claims={"sub": "user-other-educator", "name": "Other Educator"})
    assert _hidden(other_page)["attempt_id"] != _hidden(ada_page)["attempt_id"]
    assert "Ada's private overview" not in other_page.text

    ids = {"ltik": _hidden(other_page)["ltik"], "attempt_id": _hidden(ada_page)["attempt_id"]}
    for path, data in (("/submission/", {"action": "save", "version": "1", "overview": "overwritten"}),
                       ("/submission/", {"action": "confirm", "version": "1"}),
                       ("/submission/links", {"artifact_url": "https://example.org/x"}),
                       ("/submission/autosave", {"version": "1", "overview": "overwritten"})):
        with nothing_changes(app):
            assert other.post(_url(other_page, path), data={**ids, **data}).status_code == 404
    with nothing_changes(app):
        peek = other.get(_url(other_page, "/submission/confirm"), params=ids)
    assert peek.status_code == 404
    assert _attempt(app, _hidden(ada_page)["attempt_id"]).overview == "Ada's private overview"


def test_a_learner_cannot_reach_instructor_pages_and_an_instructor_gets_no_submission_page(app, browser, catalog):
    learner = _page(browser)
    ltik = _hidden(learner)["ltik"]
    assert browser.get(_url(learner, "/progress/"), params={"ltik": ltik}).status_code != 200

    instructor = _launch(browser, person="instructor")
    assert "/submission/" not in instructor.url
    with nothing_changes(app):  # the page's first opening creates an attempt: not for an instructor
        refused = browser.get(_url(learner, "/submission/"), params={"ltik": instructor.ltik})
    assert refused.status_code == 403


def test_after_the_final_deadline_nothing_changes_and_the_draft_stays_readable(app, browser, catalog):
    response = _page(browser)
    _complete(browser, response)
    draft = _page(browser)

    from lti_tool.catalog.models import Term
    from lti_tool.core.models import utcnow
    from lti_tool.extensions import db

    with app.app_context():
        now = utcnow()
        for term in db.session.scalars(db.select(Term)):
            term.enrollment_opens_at = now - timedelta(days=60)
            term.enrollment_closes_at = term.recommended_submission_at = now - timedelta(days=3)
            term.final_deadline_at = now - timedelta(days=1)
        db.session.commit()

    readable = _page(browser)
    assert "My goal and plan." in readable.text and "What changed for my students." in readable.text
    assert "final deadline" in readable.text and "has passed" in readable.text
    assert "<textarea" not in readable.text and 'value="submit"' not in readable.text

    with nothing_changes(app):
        confirm = _post(browser, draft, action="confirm")
    assert confirm.status_code == 409 and "deadline" in confirm.text
    with nothing_changes(app):
        late = _post(browser, draft, action="save", overview="Late words")
    assert late.status_code == 409 and "Late words" in late.text
    assert _status(_page(browser)) == "draft"
    assert _scores(app) == [("InProgress", "NotReady")]


# -- enrollment limit ----------------------------------------------------------------------------------------
def test_enrollment_past_the_limit_under_concurrency(app, platform, catalog):
    from lti_tool.catalog.models import Term
    from lti_tool.extensions import db
    from lti_tool.submissions.models import Enrollment

    with app.app_context():
        for term in db.session.scalars(db.select(Term)):
            term.earner_limit = 3
        db.session.commit()

    results: dict[int, object] = {}
    start = threading.Barrier(8)

    def launch(i):
        browser = PlatformBrowser(platform)
        start.wait()
        try:
            results[i] = _launch(browser, claims={"sub": f"user-{i}", "name": f"Educator {i}"}).response
        except Exception as error:  # noqa: BLE001 - reported below
            results[i] = error

    threads = [threading.Thread(target=launch, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    responses = list(results.values())
    assert all(not isinstance(r, Exception) for r in responses), responses
    enrolled = [r for r in responses if r.status_code == 200]
    full = [r for r in responses if r.status_code == 409]
    assert (len(enrolled), len(full)) == (3, 5), [(r.status_code, r.text[:200]) for r in responses]
    for response in full:
        assert "This micro-credential is full" in html.unescape(response.text)
        assert "You have not been enrolled" in html.unescape(response.text)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Enrollment)) == 3


# -- versions: artifact changes count as changes -------------------------------------------------------------
def test_a_confirmation_opened_before_the_files_changed_in_another_tab_is_refused(app, browser, catalog):
    response = _page(browser)
    page = _complete(browser, response)
    confirm = _post(browser, page, action="submit")
    assert "Submit attempt 1?" in confirm.text
    before = _attempt(app, _hidden(page)["attempt_id"]).version

    # another tab adds a second work example after the confirmation page was opened
    other = browser.post(_url(response, "/submission/links"),
                         data={**_ids(response), "artifact_url": "https://example.org/other", "artifact_title": ""})
    assert other.status_code == 200
    assert _attempt(app, _hidden(page)["attempt_id"]).version == before + 1

    with nothing_changes(app):
        refused = browser.submit_form(confirm, action="confirm")
    assert refused.status_code == 409
    assert "another tab" in refused.text
    assert _status(_page(browser)) == "draft"
    assert _scores(app) == [("InProgress", "NotReady")]


def test_typing_then_adding_a_link_keeps_the_text_and_the_page_has_the_latest_version(app, browser, catalog):
    response = _page(browser)
    # what the script does: save the text first, then post the link form
    saved = _post(browser, response, action="save", overview="Typed just before adding a link")
    assert saved.status_code == 200
    linked = browser.post(_url(response, "/submission/links"),
                          data={**_ids(saved), "artifact_url": "https://example.org/plan", "artifact_title": "Plan"})
    assert linked.status_code == 200 and "Link added." in linked.text
    attempt = _attempt(app, _hidden(linked)["attempt_id"])
    assert int(_hidden(linked)["version"]) == attempt.version == int(_hidden(saved)["version"]) + 1
    assert "Typed just before adding a link" in linked.text

    again = _post(browser, linked, action="save", overview="And more after it")  # no spurious conflict
    assert again.status_code == 200 and "Saved." in again.text


# -- a refused field keeps the text ---------------------------------------------------------------------------
@pytest.mark.parametrize("values", [
    {"overview": "x" * 100_001, "reflection": "My careful reflection"},
    {"collaboration": "maybe", "reflection": "My careful reflection"},
    {"version": "", "reflection": "My careful reflection"},
    {"version": "seven", "reflection": "My careful reflection"},
    {"action": "publish", "reflection": "My careful reflection"},
], ids=["too-long", "bad-collaboration", "no-version", "garbled-version", "bad-action"])
def test_an_invalid_save_gives_the_text_back_with_a_way_to_keep_it(app, browser, catalog, values):
    response = _page(browser)
    values = {"action": "save", "overview": "My careful overview", **values}
    with nothing_changes(app):
        refused = _post(browser, response, **values)
    assert refused.status_code == 400, refused.text[:300]
    assert "My careful reflection" in refused.text
    assert "Keep my text" in refused.text  # the compare-and-keep form, with the current version
    if values["overview"].startswith("xxx"):
        assert "longer than 100,000 characters" in refused.text
        assert refused.text.count("x" * 1000) >= 1
    assert _attempt(app, _hidden(response)["attempt_id"]).reflection == ""

    kept = browser.submit_form(refused, action="save", overview="Shorter", collaboration="no",
                               reflection="My careful reflection")
    assert kept.status_code == 200 and "Saved." in kept.text
    assert _attempt(app, _hidden(response)["attempt_id"]).reflection == "My careful reflection"


# -- a new term ------------------------------------------------------------------------------------------------
def _move_to_a_new_term(app, *, old_deadline_passed: bool = True) -> tuple[int, int]:
    """The sample term ends (its deadline passed, or still ahead); a new term's enrollment is open today."""
    from lti_tool.catalog.models import Term
    from lti_tool.core.models import utcnow
    from lti_tool.extensions import db

    with app.app_context():
        now = utcnow()
        old = db.session.scalars(db.select(Term).order_by(Term.final_deadline_at.desc())).first()
        old.enrollment_opens_at = now - timedelta(days=120)
        old.enrollment_closes_at = now - timedelta(days=90)
        old.recommended_submission_at = now - timedelta(days=60)
        old.final_deadline_at = now - timedelta(days=1) if old_deadline_passed else now + timedelta(days=5)
        new = Term(key="next-term", title="The Next Term", enrollment_opens_at=now - timedelta(days=2),
                   enrollment_closes_at=now + timedelta(days=30), recommended_submission_at=now + timedelta(days=40),
                   final_deadline_at=now + timedelta(days=60), time_zone="UTC")
        db.session.add(new)
        db.session.commit()
        return old.id, new.id


def _enrollments(app) -> list[tuple[int, int]]:
    from lti_tool.extensions import db
    from lti_tool.submissions.models import Enrollment

    with app.app_context():
        return [(e.term_id, len(e.attempts)) for e in db.session.scalars(db.select(Enrollment).order_by(Enrollment.id))]


def test_an_unfinished_draft_of_an_earlier_term_stays_reachable_and_a_new_term_starts_by_choice(app, browser,
                                                                                               catalog):
    first = _page(browser)
    _post(browser, first, action="save", overview="My draft from last term", reflection="Half a reflection")
    old_term, new_term = _move_to_a_new_term(app)

    shown = _page(browser)
    text = html.unescape(shown.text)
    assert _hidden(shown)["attempt_id"] == _hidden(first)["attempt_id"]
    assert "My draft from last term" in text and "Half a reflection" in text
    assert re.search(r"Your draft from .+ is shown; the deadline for it has passed", text)
    assert "<textarea" not in shown.text  # read-only: its deadline passed
    assert "Start in The Next Term" in text
    assert _enrollments(app) == [(old_term, 1)]  # opening the page enrolled no one

    start = next(form for form in forms_in(shown.text) if form["fields"].get("term_id"))
    assert start["fields"]["term_id"] == str(new_term)
    started = browser.post(_url(shown, "/submission/start"), data=start["fields"])
    assert started.status_code == 200, started.text[:300]
    assert "You are enrolled in the current term" in started.text
    assert _status(started) == "new" and "This is attempt 1." in started.text
    assert _hidden(started)["attempt_id"] != _hidden(first)["attempt_id"]
    assert "Start in" not in started.text and "<textarea" in started.text
    assert _enrollments(app) == [(old_term, 1), (new_term, 1)]
    assert _attempt(app, _hidden(first)["attempt_id"]).overview == "My draft from last term"  # kept as it was

    twice = browser.post(_url(shown, "/submission/start"), data=start["fields"])  # a double click: one enrollment
    assert twice.status_code == 200
    assert _enrollments(app) == [(old_term, 1), (new_term, 1)]


def test_an_earlier_draft_whose_deadline_is_ahead_stays_editable(app, browser, catalog):
    first = _page(browser)
    _post(browser, first, action="save", overview="Still finishing it")
    old_term, _ = _move_to_a_new_term(app, old_deadline_passed=False)
    shown = _page(browser)
    text = html.unescape(shown.text)
    assert "Still finishing it" in text and "<textarea" in shown.text
    assert "you can still finish it before its deadline" in text and "Start in The Next Term" in text
    assert _enrollments(app) == [(old_term, 1)]
    saved = _post(browser, shown, action="save", overview="Finished")
    assert saved.status_code == 200 and "Saved." in saved.text


def test_a_start_for_a_term_that_is_no_longer_current_enrolls_no_one(app, browser, catalog):
    first = _page(browser)
    old_term, new_term = _move_to_a_new_term(app)
    shown = _page(browser)
    answer = browser.post(_url(shown, "/submission/start"),
                          data={"ltik": _hidden(first)["ltik"], "term_id": str(old_term)})
    assert answer.status_code == 200
    assert _enrollments(app) == [(old_term, 1)]


def test_someone_with_no_enrollment_is_enrolled_in_the_current_term(app, browser, catalog):
    _, new_term = _move_to_a_new_term(app)
    shown = _page(browser)
    assert _status(shown) == "new" and "Start in" not in shown.text
    assert _enrollments(app) == [(new_term, 1)]
