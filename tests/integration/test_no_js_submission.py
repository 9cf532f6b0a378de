"""The submission page without JavaScript, at HTTP level: what a browser posts when no script runs.

- The Upload button posts the page's main form (multipart, to the upload address): the text typed since the last
  save comes along, in the page's order (overview, then the file, then reflection and the collaboration
  statement), and is saved with the file.
- A refused upload (too large: 413; disguised or not allowed: 400) answers with a page of the tool that says what
  was wrong, hands the text back in a form that saves it and returns to the submission page, and links back.
- A Remove button posts the main form too (urlencoded, to the removal's address): the text comes along and is
  saved first (version-checked); a refused save removes nothing and hands the text back.
- An add-link post whose launch expired hands back the link's address and caption.
Every way back is followed to where it arrives. The browser-level twin is tests/browser/test_no_js_submission.py.
"""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import urljoin

import pytest

from tests.integration.test_uploads import PDF, WINDOWS_PROGRAM, artifacts
from tests.nothing_changed import nothing_changes
from tests.platform.browser import forms_in

pytestmark = pytest.mark.usefixtures("running_term")

SLUG = "self-assessment-growth"
MiB = 1024 * 1024


def _page(browser):
    result = browser.launch(person="learner", custom={"microcredential": SLUG})
    assert result.status_code == 200 and "/submission/" in result.url, result.text[:300]
    return result.response


def _form(page, form_id: str) -> dict:
    (form,) = [f for f in forms_in(page.text) if f["id"] == form_id]
    return form


def _main_form(page) -> dict:
    return _form(page, "attempt-form")


def _textareas(html: str) -> dict:
    """The text areas of a page by name, as a browser would post them."""
    return {name: unescape(value) for name, value in
            re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', html, flags=re.S)}


def _upload_action(page) -> str:
    """Where the Upload button sends the main form (its formaction), as the browser resolves it."""
    button = re.search(r'<button[^>]*id="upload-button"[^>]*>', page.text).group(0)
    assert 'formenctype="multipart/form-data"' in button and not re.search(r"\sform=", button)  # the main form's
    return urljoin(page.url, unescape(re.search(r'formaction="([^"]*)"', button).group(1)))


def _post_main_form_with_file(browser, page, file: tuple[str, bytes, str], **typed):
    """The main form as a browser without script posts it with the Upload button: its fields in page order."""
    fields = {**_main_form(page)["fields"], "collaboration": "yes", "collaborators": "", **typed}
    order = ["ltik", "attempt_id", "version", "overview", "artifact_file", "artifact_title", "reflection",
             "collaboration", "collaborators"]
    parts = [(name, file if name == "artifact_file" else (None, fields.get(name, ""))) for name in order]
    return browser.post(_upload_action(page), files=parts, allow_redirects=False)


def _attempt(app, attempt_id):
    from lti_tool.extensions import db
    from lti_tool.submissions.models import Attempt

    with app.app_context():
        attempt = db.session.get(Attempt, int(attempt_id))
        db.session.expunge(attempt)
        return attempt


# -- an upload keeps the text typed since the last save -------------------------------------------------------
def test_an_upload_without_script_saves_the_text_typed_since_the_last_save(app, browser, catalog):
    page = _page(browser)
    attempt_id = _main_form(page)["fields"]["attempt_id"]
    response = _post_main_form_with_file(browser, page, ("plan.pdf", PDF, "application/pdf"),
                                         overview="Typed, never saved", reflection="Typed after the file",
                                         collaborators="Grace", artifact_title="Week 3 plan")
    assert response.status_code == 303
    arrived = browser.get(urljoin(response.url, response.headers["Location"]))
    assert arrived.status_code == 200 and "File added." in arrived.text
    assert "Typed, never saved" in arrived.text and "Typed after the file" in arrived.text
    saved = _attempt(app, attempt_id)
    assert (saved.overview, saved.reflection, saved.collaborated, saved.collaborators) == (
        "Typed, never saved", "Typed after the file", True, "Grace")
    assert [(a.file_name, a.title) for a in artifacts(app, int(attempt_id))] == [("plan.pdf", "Week 3 plan")]


def test_an_upload_from_an_out_of_date_page_hands_the_text_back_and_adds_no_file(app, browser, catalog):
    page = _page(browser)
    form = _main_form(page)
    assert browser.post(urljoin(page.url, "/submission/"), data={**form["fields"], "action": "save",
                                                                  "overview": "From another tab"}).status_code == 200
    with nothing_changes(app):
        refused = _post_main_form_with_file(browser, page, ("plan.pdf", PDF, "application/pdf"),
                                            overview="My older tab's text", reflection="Kept too")
    assert refused.status_code == 409
    assert "My older tab&#39;s text" in refused.text and "Kept too" in refused.text
    assert "The file you chose was not added either" in refused.text


def _close(app, attempt_id, how: str) -> None:
    """The attempt can no longer change: the term's final deadline passed, or it was submitted in another tab."""
    from datetime import timedelta

    from lti_tool.catalog.models import Term
    from lti_tool.core.models import utcnow
    from lti_tool.extensions import db
    from lti_tool.submissions.models import Attempt, SubmissionStatus

    with app.app_context():
        now = utcnow()
        if how == "deadline-passed":
            for term in db.session.scalars(db.select(Term)):
                term.enrollment_closes_at = term.recommended_submission_at = now - timedelta(days=3)
                term.final_deadline_at = now - timedelta(days=1)
        else:
            attempt = db.session.get(Attempt, int(attempt_id))
            attempt.status, attempt.submitted_at = SubmissionStatus.SUBMITTED.value, now
        db.session.commit()


@pytest.mark.parametrize("how", ["deadline-passed", "submitted-in-another-tab"])
def test_an_upload_to_a_closed_attempt_hands_the_text_back_and_adds_no_file(app, browser, catalog, how):
    page = _page(browser)
    _close(app, _main_form(page)["fields"]["attempt_id"], how)
    with nothing_changes(app):
        refused = _post_main_form_with_file(browser, page, ("plan.pdf", PDF, "application/pdf"),
                                            overview="Typed before the deadline", reflection="Kept too")
    assert refused.status_code == 409, refused.text[:300]
    assert "Typed before the deadline" in refused.text and "Kept too" in refused.text
    assert "The file you chose was not added either" in refused.text


# -- a refused upload is no dead end -------------------------------------------------------------------------
REFUSALS = [
    pytest.param(("big.pdf", PDF + bytes(MiB + MiB // 2), "application/pdf"), 413,
                 "“big.pdf” is larger than 1 MiB, the limit for documents and images.", id="too-large"),
    pytest.param(("plan.pdf", WINDOWS_PROGRAM, "application/pdf"), 400,
                 "“plan.pdf” is not a PDF file: its content looks like a Windows program.", id="disguised"),
    pytest.param(("setup.exe", WINDOWS_PROGRAM, "application/octet-stream"), 400,
                 "“setup.exe” cannot be added", id="not-allowed"),
]


@pytest.mark.parametrize(("file", "status", "message"), REFUSALS)
def test_a_refused_upload_says_why_and_leads_back_with_the_text(app, browser, catalog, small_limits, file, status,
                                                               message):
    page = _page(browser)
    attempt_id = _main_form(page)["fields"]["attempt_id"]
    with nothing_changes(app):
        refused = _post_main_form_with_file(browser, page, file, overview="An hour of writing",
                                            reflection="Written after choosing the file", collaborators="Grace")
    assert refused.status_code == status
    assert message in unescape(refused.text)
    assert "The file was not added." in refused.text
    kept = _form(refused, "keep-text-form")
    text = _textareas(refused.text)
    assert text == {"overview": "An hour of writing", "reflection": "Written after choosing the file"}
    assert kept["fields"]["collaborators"] == "Grace" and kept["fields"]["collaboration"] == "yes"

    # the plain way back: the submission page, as it was saved (nothing lost, nothing added)
    (back,) = re.findall(r'<a class="button secondary" href="([^"]*)"', refused.text)
    arrived = browser.get(urljoin(refused.url, unescape(back)))
    assert arrived.status_code == 200 and "/submission/" in arrived.url and "Part 1" in arrived.text

    # the way back that keeps the text: saves it, then the submission page
    saved = browser.submit_form(refused, index=forms_in(refused.text).index(kept), **text)
    assert saved.status_code == 200 and "/submission/" in saved.url and "Saved." in saved.text
    assert "An hour of writing" in saved.text
    assert _attempt(app, attempt_id).reflection == "Written after choosing the file"
    assert artifacts(app, int(attempt_id)) == []


def test_a_refused_upload_with_nothing_typed_links_back_to_the_submission(app, browser, catalog):
    page = _page(browser)
    fields = _main_form(page)["fields"]
    with nothing_changes(app):
        refused = browser.post(_upload_action(page), data={"ltik": fields["ltik"], "attempt_id": fields["attempt_id"]},
                               files={"artifact_file": ("setup.exe", WINDOWS_PROGRAM)}, allow_redirects=False)
    assert refused.status_code == 400
    (back,) = re.findall(r'<a class="button" href="([^"]*)"', refused.text)
    arrived = browser.get(urljoin(refused.url, unescape(back)))
    assert arrived.status_code == 200 and "/submission/" in arrived.url


def test_a_body_refused_before_it_is_read_still_says_how_to_get_back(app, browser, catalog, small_limits):
    """A form body larger than any upload may be is refused from its declared size, before a byte is read: there
    is no field to give back, and the page says how to get back (the browser's Back button keeps the text)."""
    page = _page(browser)
    fields = _main_form(page)["fields"]
    with nothing_changes(app):
        refused = _post_main_form_with_file(browser, page, ("film.mp4", bytes(4 * MiB), "video/mp4"),
                                            overview="Typed")
    assert refused.status_code == 413
    assert "Back button" in refused.text
    assert fields["ltik"] not in refused.text


# -- an expired launch hands everything back -----------------------------------------------------------------
@pytest.fixture
def expire_sessions(app):
    """Call it to end every launch's session from now on (restored afterwards)."""
    saved = app.config["LTI_SESSION_MAX_AGE"]
    yield lambda: app.config.update(LTI_SESSION_MAX_AGE=-1)
    app.config["LTI_SESSION_MAX_AGE"] = saved


def test_an_added_link_is_handed_back_when_the_launch_has_expired(app, browser, catalog, expire_sessions):
    page = _page(browser)
    expire_sessions()
    (link_form,) = [f for f in forms_in(page.text) if f["action"].endswith("/submission/links")]
    with nothing_changes(app):
        expired = browser.post(urljoin(page.url, link_form["action"]), data={
            **link_form["fields"], "artifact_url": "https://example.org/my-video?x=1&y=<b>",
            "artifact_title": "Lesson video <3"})
    assert expired.status_code == 401
    assert 'value="https://example.org/my-video?x=1&amp;y=&lt;b&gt;"' in expired.text
    assert 'value="Lesson video &lt;3"' in expired.text
    assert "Open the activity again from your course" in expired.text


def test_an_upload_with_an_expired_launch_hands_the_text_back(app, browser, catalog, expire_sessions):
    page = _page(browser)
    expire_sessions()
    with nothing_changes(app):
        expired = _post_main_form_with_file(browser, page, ("plan.pdf", PDF, "application/pdf"),
                                            overview="Never lost", reflection="Nor this")
    assert expired.status_code == 401
    assert "Never lost" in expired.text and "Nor this" in expired.text


# -- a removal keeps the text typed since the last save ------------------------------------------------------
def _page_with_a_link(browser):
    page = _page(browser)
    (link_form,) = [f for f in forms_in(page.text) if f["action"].endswith("/submission/links")]
    linked = browser.post(urljoin(page.url, link_form["action"]), data={
        **link_form["fields"], "artifact_url": "https://example.org/lesson", "artifact_title": "Lesson"})
    assert linked.status_code == 200 and "Link added." in linked.text
    return linked


def _post_main_form_with_remove(browser, page, **typed):
    """The main form as a browser without script posts it with a Remove button (its formaction, urlencoded)."""
    button = re.search(r'<button[^>]*data-script-form="remove-\d+"[^>]*>Remove</button>', page.text).group(0)
    assert not re.search(r"\sform=", button)  # part of the main form
    action = urljoin(page.url, unescape(re.search(r'formaction="([^"]*)"', button).group(1)))
    fields = {**_main_form(page)["fields"], "collaboration": "no", "collaborators": "", **typed}
    return browser.post(action, data=fields, allow_redirects=False)


def test_a_removal_without_script_saves_the_text_typed_since_the_last_save(app, browser, catalog):
    page = _page_with_a_link(browser)
    attempt_id = _main_form(page)["fields"]["attempt_id"]
    assert [a.url for a in artifacts(app, int(attempt_id))] == ["https://example.org/lesson"]
    response = _post_main_form_with_remove(browser, page, overview="Typed, then removed a link",
                                           reflection="Also typed")
    assert response.status_code == 303
    arrived = browser.get(urljoin(response.url, response.headers["Location"]))
    assert arrived.status_code == 200 and "Removed." in arrived.text
    assert "Typed, then removed a link" in arrived.text and "Also typed" in arrived.text
    saved = _attempt(app, attempt_id)
    assert (saved.overview, saved.reflection, saved.collaborated) == ("Typed, then removed a link", "Also typed",
                                                                      False)
    assert artifacts(app, int(attempt_id)) == []


def test_a_removal_from_an_out_of_date_page_hands_the_text_back_and_removes_nothing(app, browser, catalog):
    page = _page_with_a_link(browser)
    form = _main_form(page)
    assert browser.post(urljoin(page.url, "/submission/"), data={**form["fields"], "action": "save",
                                                                  "overview": "From another tab"}).status_code == 200
    with nothing_changes(app):
        refused = _post_main_form_with_remove(browser, page, overview="My older tab's text", reflection="Kept too")
    assert refused.status_code == 409
    assert "My older tab&#39;s text" in refused.text and "Kept too" in refused.text
    assert "Nothing was removed either" in refused.text
    assert len(artifacts(app, int(form["fields"]["attempt_id"]))) == 1


def test_a_removal_with_an_expired_launch_hands_the_text_back(app, browser, catalog, expire_sessions):
    page = _page_with_a_link(browser)
    expire_sessions()
    with nothing_changes(app):
        expired = _post_main_form_with_remove(browser, page, overview="Never lost", reflection="Nor this")
    assert expired.status_code == 401
    assert "Never lost" in expired.text and "Nor this" in expired.text
