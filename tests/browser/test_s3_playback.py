"""Audio kept in S3 plays inside the LMS iframe: the player's file link redirects to a presigned URL of the bucket
(another origin), which the page's Content-Security-Policy lets the player load, and the page stays accessible.

Chromium, the tool in a cross-site iframe, a real S3 endpoint (moto in server mode).
"""

from __future__ import annotations

import pytest

from tests.browser.conftest import assert_accessible, screenshot_frame
from tests.browser.test_submission import _one_second_of_silence, _open_activity

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("running_term")]


def test_audio_kept_in_s3_plays_in_the_lms_iframe(s3_app, lms, page, catalog, s3_server):
    from_bucket = []
    page.on("response", lambda response: from_bucket.append(response)
            if response.url.startswith(s3_server.endpoint_url) else None)
    frame = _open_activity(page, lms)
    frame.locator("input[name=artifact_file]").set_input_files(
        {"name": "interview.wav", "mimeType": "audio/wav", "buffer": _one_second_of_silence()})
    frame.locator("button[form=upload-form]").click()
    frame.locator("#notice").filter(has_text="File added.").wait_for(timeout=10000)
    audio = frame.locator("audio")
    audio.wait_for(timeout=5000)
    assert audio.evaluate(
        "el => new Promise(done => el.readyState >= 1 ? done(true) :"
        " (el.addEventListener('loadedmetadata', () => done(true)), el.addEventListener('error', () => done(false)),"
        " el.load()))"
    ), "the audio kept in S3 does not play"
    assert audio.evaluate("el => el.duration") == pytest.approx(1.0, abs=0.05)
    assert from_bucket, "the audio did not come from the bucket"
    assert all(response.status in (200, 206) for response in from_bucket)
    assert from_bucket[0].headers["content-type"] == "audio/wav"
    assert from_bucket[0].headers["content-disposition"] == 'inline; filename="interview.wav"'
    screenshot_frame(page, frame, "submission-s3-audio")
    assert_accessible(frame, "submission-s3-audio")
