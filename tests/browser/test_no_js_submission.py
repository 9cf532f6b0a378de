"""The submission page with JavaScript switched off, inside the LMS's cross-site iframe (Chromium).

An upload, and a removal, carry the text typed since the last save; a refused upload (400, 413) is a page that says
why and leads back to the submission page with the text kept; an added link whose launch expired is handed back.
Every way back is clicked and followed to where it arrives. The HTTP-level twin is
tests/integration/test_no_js_submission.py.

axe-core needs script, and this browser has none: each page that only a POST's answer shows (the refusals, the
expired page's hand-back) is checked by taking the HTML the tool answered from the network and loading it, at the
address it came from, into a page of a browser with script on, where axe-core runs (`_assert_answer_accessible`).
"""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import urljoin

import pytest

from tests.browser.conftest import assert_accessible, screenshot, screenshot_frame, tool_frame

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("running_term")]

SLUG = "self-assessment-growth"
MiB = 1024 * 1024
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
WINDOWS_PROGRAM = b"MZ\x90\x00\x03\x00\x00\x00" + bytes(56) + b"This program cannot be run in DOS mode.\r\n"


@pytest.fixture
def page(chromium):
    """A page of a browser with JavaScript switched off (in every frame: the LMS's and the tool's)."""
    context = chromium.new_context(viewport={"width": 1100, "height": 1000}, java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(20000)
    yield page
    context.close()


def _open_activity(page, lms):
    """Without script the platform's auto-posting forms show a Continue button: the person clicks it."""
    login, _ = lms.next_launch(person="learner", custom={"microcredential": SLUG}, resource_link_id="activity-nojs")
    page.goto(lms.course_page_url(login))
    _click(page, tool_frame(page).get_by_role("button", name="Continue"))
    return _arrived(page, "#status-heading")


def _click(page, control):
    """Click a control that loads a page in the tool's frame; the final answer (not a redirect) the frame shows.

    With script switched off, Playwright's own waiting for a navigation in a cross-site frame never ends, and neither
    does a query of a page the frame shows as the answer of a POST (a refusal, 4xx): the click does not wait, the
    answer is taken from the network, and the frame is queried only for pages reached by a redirect (GET)."""
    with page.expect_response(lambda r: r.request.is_navigation_request() and not 300 <= r.status < 400,
                              timeout=20000) as answer:
        control.click(no_wait_after=True)
    page.wait_for_timeout(1000)
    return answer.value


def _arrived(page, selector: str):
    """The tool's frame once `selector` shows in it."""
    for _ in range(150):
        frame = tool_frame(page)
        if frame is not None and frame.locator(selector).count():
            return frame
        page.wait_for_timeout(100)
    raise AssertionError(f"{selector} never showed in the tool's frame")


def _assert_answer_accessible(chromium, answer, name: str) -> None:
    """Run axe-core on the page the tool answered (its HTML and CSP as sent), shown at its own address in a browser
    with script on, so its stylesheet and images load from the tool as in the frame; and take a screenshot."""
    html, sent = answer.text(), answer.all_headers()
    headers = {name: sent[name] for name in ("content-type", "content-security-policy") if name in sent}
    assert "content-security-policy" in headers
    context = chromium.new_context(viewport={"width": 1100, "height": 900})
    try:
        page = context.new_page()
        page.route(answer.url, lambda route: route.fulfill(status=answer.status, headers=headers, body=html))
        shown = page.goto(answer.url)
        assert shown.status == answer.status
        page.wait_for_load_state("load")
        assert page.content().count("<h1>") == 1
        screenshot(page, name)
        assert_accessible(page, name)
    finally:
        context.close()


def _textarea(html: str, element_id: str) -> str:
    return unescape(re.search(rf'<textarea id="{element_id}"[^>]*>(.*?)</textarea>', html, flags=re.S).group(1))


def _href(html: str, text: str) -> str:
    return unescape(re.search(rf'<a [^>]*href="([^"]*)"[^>]*>{re.escape(text)}</a>', html).group(1))


def _attempt(app):
    from lti_tool.extensions import db
    from lti_tool.submissions.models import Attempt

    with app.app_context():
        attempt = db.session.scalars(db.select(Attempt)).one()
        db.session.expunge(attempt)
        return attempt


def _artifact_names(app) -> list[str]:
    from lti_tool.extensions import db
    from lti_tool.submissions.models import Artifact

    with app.app_context():
        return [a.file_name or a.url for a in db.session.scalars(db.select(Artifact).order_by(Artifact.id))]


def test_without_script_an_upload_keeps_the_text_and_a_refusal_leads_back(app, lms, page, catalog, small_limits,
                                                                          chromium):
    frame = _open_activity(page, lms)
    assert frame.locator("#upload-button").get_attribute("form") is None  # part of the main form: no script moved it

    # typed, never saved, then a file: both arrive
    frame.locator("textarea[name=overview]").fill("Typed before the upload")
    frame.locator("textarea[name=reflection]").fill("Typed after choosing nothing yet")
    frame.locator("#artifact-file").set_input_files({"name": "plan.pdf", "mimeType": "application/pdf", "buffer": PDF})
    frame.locator("#upload-title").fill("My plan")
    _click(page, frame.get_by_role("button", name="Upload"))
    frame = _arrived(page, "#notice")
    assert "File added." in frame.locator("#notice").inner_text()
    assert frame.locator("textarea[name=overview]").input_value() == "Typed before the upload"
    assert frame.locator("textarea[name=reflection]").input_value() == "Typed after choosing nothing yet"
    assert (_attempt(app).overview, _attempt(app).reflection) == ("Typed before the upload",
                                                                  "Typed after choosing nothing yet")
    assert _artifact_names(app) == ["plan.pdf"]
    screenshot_frame(page, frame, "no-js-1-uploaded")  # (axe-core needs script: it cannot run in this browser)

    # a disguised file (400): a page of the tool says why, hands the text back, and links back
    frame.locator("textarea[name=overview]").fill("More writing, not saved yet")
    frame.locator("textarea[name=reflection]").fill("A reflection typed after the file")
    frame.locator("#artifact-file").set_input_files(
        {"name": "notes.pdf", "mimeType": "application/pdf", "buffer": WINDOWS_PROGRAM})
    refused = _click(page, frame.get_by_role("button", name="Upload"))
    assert refused.status == 400 and refused.url.endswith("/artifacts/upload")
    html = refused.text()
    assert "This file cannot be added" in html and "its content looks like a Windows program" in html
    assert _textarea(html, "kept-overview") == "More writing, not saved yet"
    assert _textarea(html, "kept-reflection") == "A reflection typed after the file"
    screenshot(page, "no-js-2-refused-type")
    _assert_answer_accessible(chromium, refused, "no-js-2-refused-type-axe")
    assert _artifact_names(app) == ["plan.pdf"] and _attempt(app).overview == "Typed before the upload"

    # its way back: the submission page, as saved (the text stays on the refusal page to keep; HTTP tests save it)
    tool_frame(page).goto(urljoin(refused.url, _href(html, "Back to the submission page without saving this text")))
    frame = _arrived(page, "#status-heading")
    assert "/submission/" in frame.url
    assert frame.locator("textarea[name=overview]").input_value() == "Typed before the upload"

    # too large (413): the same page, the same way back
    frame.locator("textarea[name=overview]").fill("Typed before a big file")
    frame.locator("#artifact-file").set_input_files(
        {"name": "thesis.pdf", "mimeType": "application/pdf", "buffer": PDF + bytes(MiB + MiB // 2)})
    refused = _click(page, frame.get_by_role("button", name="Upload"))
    assert refused.status == 413
    html = refused.text()
    assert "This file is too large" in html and "“thesis.pdf” is larger than 1 MiB" in html
    assert _textarea(html, "kept-overview") == "Typed before a big file"
    screenshot(page, "no-js-3-too-large")
    _assert_answer_accessible(chromium, refused, "no-js-3-too-large-axe")
    tool_frame(page).goto(urljoin(refused.url, _href(html, "Back to the submission page without saving this text")))
    frame = _arrived(page, "#status-heading")
    assert "/submission/" in frame.url
    assert _artifact_names(app) == ["plan.pdf"]


def test_without_script_a_link_added_after_the_launch_expired_is_handed_back(app, lms, page, catalog, chromium):
    frame = _open_activity(page, lms)
    frame.locator("input[name=artifact_url]").fill("https://example.org/lesson-video")
    frame.locator("#link-title").fill("Lesson video")
    saved = app.config["LTI_SESSION_MAX_AGE"]
    app.config["LTI_SESSION_MAX_AGE"] = -1
    try:
        expired = _click(page, frame.get_by_role("button", name="Add link"))
    finally:
        app.config["LTI_SESSION_MAX_AGE"] = saved
    assert expired.status == 401
    html = expired.text()
    assert 'id="sent-artifact-url" value="https://example.org/lesson-video"' in html
    assert 'id="sent-artifact-title" value="Lesson video"' in html
    assert _artifact_names(app) == []
    screenshot(page, "no-js-4-expired-link")
    _assert_answer_accessible(chromium, expired, "no-js-4-expired-link-axe")


def test_without_script_a_removal_keeps_the_text(app, lms, page, catalog):
    frame = _open_activity(page, lms)
    frame.locator("input[name=artifact_url]").fill("https://example.org/lesson-video")
    frame.locator("#link-title").fill("Lesson video")
    _click(page, frame.get_by_role("button", name="Add link"))
    frame = _arrived(page, "#notice")
    assert _artifact_names(app) == ["https://example.org/lesson-video"]

    remove = frame.get_by_role("button", name="Remove")
    assert remove.get_attribute("form") is None  # a button of the main form: no script moved it
    frame.locator("textarea[name=overview]").fill("Typed before removing the link")
    frame.locator("textarea[name=reflection]").fill("And a reflection")
    _click(page, remove)
    frame = _arrived(page, "#notice")
    assert "Removed." in frame.locator("#notice").inner_text()
    assert frame.locator("textarea[name=overview]").input_value() == "Typed before removing the link"
    assert frame.locator("textarea[name=reflection]").input_value() == "And a reflection"
    assert (_attempt(app).overview, _attempt(app).reflection) == ("Typed before removing the link",
                                                                  "And a reflection")
    assert _artifact_names(app) == []
    screenshot_frame(page, frame, "no-js-5-removed")
