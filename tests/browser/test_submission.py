"""An educator builds, saves, leaves, comes back to and submits their evidence inside the LMS iframe.

Chromium, the tool in a cross-site iframe, third-party cookies blocked; screenshots in build/screenshots/.
"""

from __future__ import annotations

import io
import re
import wave

import pytest

from tests.browser.conftest import assert_accessible, screenshot_frame

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("running_term")]

SLUG = "self-assessment-growth"
OVERVIEW = "I chose indicator 2.3: checking for understanding.\nMy goal: exit tickets every lesson for six weeks."
REFLECTION = "Exit tickets showed me who needed help the next day; <b>not bold</b> stays text."



def _open_activity(page, lms):
    login, _ = lms.next_launch(person="learner", custom={"microcredential": SLUG}, resource_link_id="activity-mc")
    page.goto(lms.course_page_url(login))
    page.wait_for_selector("iframe#tool")
    frame = page.frame_locator("iframe#tool")
    frame.locator("#status-heading").wait_for(timeout=15000)
    return frame


def _one_second_of_silence() -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(8000)
        sound.writeframes(b"\x00\x00" * 8000)
    return buffer.getvalue()


def test_an_educator_builds_leaves_comes_back_and_submits(app, lms, page, catalog):
    frame = _open_activity(page, lms)
    assert frame.locator("[data-status]").get_attribute("data-status") == "new"
    screenshot_frame(page, frame, "submission-1-first-visit")
    assert_accessible(frame, "submission-1-first-visit")

    # typing saves itself, 2 s after the typing stops
    frame.locator("textarea[name=overview]").fill(OVERVIEW)
    frame.locator("#autosave-status").filter(has_text="Saved at").wait_for(timeout=10000)
    screenshot_frame(page, frame, "submission-2-autosaved")
    assert_accessible(frame, "submission-2-autosaved")

    frame.locator("textarea[name=reflection]").fill(REFLECTION)
    frame.locator("input[name=collaboration][value=yes]").check()
    frame.locator("input[name=collaborators]").fill("Grace Hopper")
    frame.locator("button[name=action][value=save]").click()
    frame.locator("#notice").filter(has_text="Saved.").wait_for(timeout=10000)
    assert frame.locator("[data-status]").get_attribute("data-status") == "draft"
    screenshot_frame(page, frame, "submission-3-saved")
    assert_accessible(frame, "submission-3-saved")

    # leave the course page, then come back with a new launch: everything is there
    page.goto(lms.base_url + "/return")
    frame = _open_activity(page, lms)
    assert frame.locator("textarea[name=overview]").input_value() == OVERVIEW
    assert frame.locator("textarea[name=reflection]").input_value() == REFLECTION
    assert frame.locator("input[name=collaborators]").input_value() == "Grace Hopper"

    # an audio file, with the progress bar: the upload is held at the LMS's door to see the bar at 100 %
    held = []
    page.route(re.compile(r".*/artifacts/upload\?.*"), lambda route: held.append(route))
    frame.locator("input[name=artifact_file]").set_input_files(
        {"name": "interview.wav", "mimeType": "audio/wav", "buffer": _one_second_of_silence()})
    frame.locator("#upload-title").fill("Interview with a student")
    frame.locator("button[form=upload-form]").click()
    frame.locator("#upload-progress:not([hidden])").wait_for(timeout=10000)
    for _ in range(50):
        if held:
            break
        page.wait_for_timeout(100)
    assert held, "the upload never left the page"
    screenshot_frame(page, frame, "submission-4-uploading")
    assert_accessible(frame, "submission-4-uploading")
    held[0].continue_()
    page.unroute_all()
    frame.locator("#notice").filter(has_text="File added.").wait_for(timeout=10000)
    audio = frame.locator("audio")
    audio.wait_for(timeout=5000)
    assert audio.evaluate(
        "el => new Promise(done => el.readyState >= 1 ? done(true) :"
        " (el.addEventListener('loadedmetadata', () => done(true)), el.addEventListener('error', () => done(false)),"
        " el.load()))"
    ), "the audio artifact does not play"

    # a link
    frame.locator("input[name=artifact_url]").fill("https://example.org/lesson-plans")
    frame.locator("#link-title").fill("Lesson plans")
    frame.get_by_role("button", name="Add link").click()
    frame.locator("#notice").filter(has_text="Link added.").wait_for(timeout=10000)
    link = frame.get_by_role("link", name="Lesson plans")
    assert link.get_attribute("rel") == "noopener noreferrer" and link.get_attribute("target") == "_blank"
    assert frame.locator("textarea[name=overview]").input_value() == OVERVIEW
    screenshot_frame(page, frame, "submission-5-artifacts")
    assert_accessible(frame, "submission-5-artifacts")

    # submit, with a confirmation first
    frame.locator("button[name=action][value=submit]").click()
    frame.get_by_text("Nothing can change after it.").wait_for(timeout=10000)
    screenshot_frame(page, frame, "submission-6-confirm")
    assert_accessible(frame, "submission-6-confirm")
    frame.locator("button[name=action][value=confirm]").click()
    frame.locator("#notice").filter(has_text="Submitted.").wait_for(timeout=10000)
    assert frame.locator("[data-status]").get_attribute("data-status") == "submitted"
    assert frame.locator("textarea").count() == 0
    assert frame.locator("button[name=action]").count() == 0
    assert "<b>not bold</b>" in frame.locator("[data-part=reflection]").inner_text()
    screenshot_frame(page, frame, "submission-7-locked")
    assert_accessible(frame, "submission-7-locked")

    assert [(s["activityProgress"], s["gradingProgress"]) for s in _queued(app)] == [
        ("InProgress", "NotReady"), ("Submitted", "PendingManual")]


def _queued(app):
    from lti_tool.extensions import db
    from lti_tool.gradebook.models import OutboxMessage

    with app.app_context():
        return [m.payload for m in db.session.scalars(db.select(OutboxMessage).order_by(OutboxMessage.id))]


def test_two_tabs_a_stale_page_gives_the_text_back(app, lms, page, catalog):
    first = _open_activity(page, lms)
    other_page = page.context.new_page()
    second = _open_activity(other_page, lms)
    second.locator("textarea[name=overview]").fill("Written in the second tab")
    second.locator("button[name=action][value=save]").click()
    second.locator("#notice").filter(has_text="Saved.").wait_for(timeout=10000)
    other_page.close()

    first.locator("textarea[name=overview]").fill("Written in the first tab, later")
    first.locator("#autosave-status").filter(has_text="Not saved").wait_for(timeout=10000)
    assert "another tab" in first.locator("#autosave-status").inner_text()
    screenshot_frame(page, first, "submission-8-autosave-stale")
    assert_accessible(first, "submission-8-autosave-stale")

    first.locator("button[name=action][value=save]").click()
    first.get_by_text("Your changes were not saved").wait_for(timeout=10000)
    assert first.locator("textarea[name=overview]").input_value() == "Written in the first tab, later"
    assert "Written in the second tab" in first.locator("body").inner_text()
    screenshot_frame(page, first, "submission-9-conflict")
    assert_accessible(first, "submission-9-conflict")

    first.get_by_role("button", name="Keep my text").click()
    first.locator("#notice").filter(has_text="Saved.").wait_for(timeout=10000)
    assert first.locator("textarea[name=overview]").input_value() == "Written in the first tab, later"


def _hold(page, pattern: str) -> list:
    held = []
    page.route(re.compile(pattern), lambda route: held.append(route))
    return held


def _wait_for(page, held: list, what: str) -> None:
    for _ in range(100):
        if held:
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"{what} never left the page")


def _start_upload(frame, name: str) -> None:
    frame.locator("#artifact-file").set_input_files(
        {"name": name, "mimeType": "audio/wav", "buffer": _one_second_of_silence()})
    frame.locator("button[form=upload-form]").click()


def test_text_typed_while_a_file_uploads_is_saved_before_the_page_reloads(app, lms, page, catalog):
    frame = _open_activity(page, lms)

    # typed during the upload, just before it finishes (no autosave yet): saved before the reload
    uploads = _hold(page, r".*/artifacts/upload\?.*")
    _start_upload(frame, "first.wav")
    _wait_for(page, uploads, "the upload")
    frame.locator("textarea[name=overview]").fill("Typed while the first file uploaded")
    uploads.pop().continue_()
    frame.locator("#notice").filter(has_text="File added.").wait_for(timeout=10000)
    assert frame.locator("textarea[name=overview]").input_value() == "Typed while the first file uploaded"

    # an autosave that reaches the tool after the upload (so it is refused as stale), whose answer comes first:
    # the page takes the upload's version, saves the text again, and only then reloads
    _start_upload(frame, "second.wav")
    _wait_for(page, uploads, "the upload")
    autosaves = _hold(page, r".*/submission/autosave$")
    frame.locator("textarea[name=reflection]").fill("Typed while the second file uploaded")
    _wait_for(page, autosaves, "the autosave")
    upload = uploads.pop()
    answer = upload.fetch()  # the upload is stored and committed (the version moves on); its answer is held back
    page.unroute(re.compile(r".*/submission/autosave$"))
    autosaves.pop().continue_()
    frame.locator("#autosave-status").filter(has_text="Not saved").wait_for(timeout=10000)
    upload.fulfill(response=answer)
    page.unroute_all()
    frame.locator("li.artifact").nth(1).wait_for(timeout=10000)  # the page reloaded, with both files
    assert frame.locator("#notice").inner_text() == "File added."
    assert frame.locator("textarea[name=reflection]").input_value() == "Typed while the second file uploaded"
    assert frame.locator("textarea[name=overview]").input_value() == "Typed while the first file uploaded"


def test_the_page_script_reads_the_launch_reference_at_each_request(lms, page, catalog):
    """The page renews its reference (static/js/session.js rewrites input[name=ltik]): autosave must send the
    current one, not the one the page was rendered with."""
    frame = _open_activity(page, lms)
    frame.locator("textarea[name=overview]").fill(OVERVIEW)
    frame.locator("#autosave-status").filter(has_text="Saved at").wait_for(timeout=10000)

    frame.locator("#attempt-form input[name=ltik]").evaluate("input => { input.value = 'renewed-reference'; }")
    with page.expect_request(lambda r: r.method == "POST" and "autosave" in r.url, timeout=10000) as sent:
        frame.locator("textarea[name=overview]").fill(OVERVIEW + " More.")
    assert sent.value.headers["x-launch-token"] == "renewed-reference"
