"""The session after a launch in Chromium, the tool in a cross-site iframe, third-party cookies blocked.

Where the browser keeps the tool's partitioned cookie, the session is bound to it: a copied address is refused
elsewhere. Where it keeps none (postMessage storage launch), the page renews its short-lived references itself
(static/js/session.js) and its links keep working after the first reference has expired.
"""

from __future__ import annotations

import time

import pytest
import requests

from tests.browser.conftest import (
    assert_accessible,
    frame_ltik,
    lose_cookies_during_login,
    screenshot_frame,
    tool_frame,
)

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("running_term")]

SLUG = "self-assessment-growth"
RELAUNCH = "Open the activity again from your course; anything you saved is kept."


def _open_activity(page, lms, storage: bool):
    login, _ = lms.next_launch(person="learner", custom={"microcredential": SLUG}, resource_link_id="activity-s")
    page.goto(lms.course_page_url(login, storage=storage))
    page.wait_for_selector("iframe#tool")
    frame = page.frame_locator("iframe#tool")
    frame.locator("#status-heading").wait_for(timeout=15000)
    return frame


def test_without_cookies_the_page_renews_its_reference_and_its_links_keep_working(app, lms, page, catalog,
                                                                                 monkeypatch):
    monkeypatch.setitem(app.config, "LTI_REFERENCE_MAX_AGE", 4)
    lose_cookies_during_login(page, lms)
    frame = _open_activity(page, lms, storage=True)
    first = frame_ltik(page)
    opened_at = time.monotonic()
    assert frame.locator('meta[name="lti-session"]').count() == 1

    # session.js renews the reference in the page's forms, links and address before it expires
    frame.locator("input[name=ltik]").first.wait_for(state="attached")
    tool_frame(page).wait_for_function(
        "first => document.querySelector('input[name=ltik]').value !== first", arg=first, timeout=10000)
    renewed = frame.locator("input[name=ltik]").first.get_attribute("value")
    assert renewed != first
    here = tool_frame(page).evaluate("location.href")
    assert "ltik=" in here and first not in here  # the address too (a reload keeps working)
    library = frame.get_by_role("link", name="Library of Micro-Credentials")
    assert first not in library.get_attribute("href")

    # the first reference has expired: of no use to anyone now, while the page goes on working
    time.sleep(max(0.0, 5 - (time.monotonic() - opened_at)))
    stale = requests.get(f"{lms.tool_origin}/submission/?ltik={first}", timeout=10)
    assert stale.status_code == 401 and "expired" in stale.text

    frame.locator("textarea[name=overview]").fill("Written after the first reference expired.")
    frame.locator("#autosave-status").filter(has_text="Saved at").wait_for(timeout=10000)
    library.click()
    frame.get_by_role("heading", level=1).filter(has_text="Micro-Credential").first.wait_for(timeout=10000)
    assert "/catalog" in tool_frame(page).url
    screenshot_frame(page, frame, "session-renewed-library")
    assert_accessible(frame, "session-renewed-library")


def test_without_cookies_the_page_says_when_the_session_has_ended(app, lms, page, catalog, monkeypatch):
    monkeypatch.setitem(app.config, "LTI_REFERENCE_MAX_AGE", 4)
    lose_cookies_during_login(page, lms)
    frame = _open_activity(page, lms, storage=True)
    monkeypatch.setitem(app.config, "LTI_SESSION_MAX_AGE", 1)
    notice = frame.get_by_role("alert").filter(has_text=RELAUNCH)
    notice.wait_for(timeout=10000)
    assert "ended" in notice.inner_text()
    screenshot_frame(page, frame, "session-ended-notice")
    assert_accessible(frame, "session-ended-notice")


def test_with_its_partitioned_cookie_the_session_is_bound_to_this_browser(lms, page, chromium, catalog):
    frame = _open_activity(page, lms, storage=False)
    assert frame.locator('meta[name="lti-session"]').count() == 0  # bound: nothing to renew
    address = tool_frame(page).url

    frame.get_by_role("link", name="Library of Micro-Credentials").click()
    frame.get_by_role("heading", level=1).filter(has_text="Micro-Credential").first.wait_for(timeout=10000)

    other = chromium.new_context()  # another person's browser, given the copied address
    try:
        stranger = other.new_page()
        stranger.goto(address)
        assert "another browser" in stranger.locator("body").inner_text()
        assert_accessible(stranger, "session-replayed-elsewhere")
    finally:
        other.close()


