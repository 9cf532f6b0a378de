"""The launch as a person sees it: the LMS page frames the tool from another site, third-party cookies blocked."""

from __future__ import annotations

import pytest

from tests.browser.conftest import assert_accessible, lose_cookies_during_login, screenshot

pytestmark = pytest.mark.browser


def _tool_frame(page):
    page.wait_for_selector("iframe#tool")
    return page.frame_locator("iframe#tool")


def _accept_storage_access_prompts(page, lms) -> None:
    """The person will accept the browser's storage access prompt for the tool inside the LMS page (CDP: the
    permission of the embedded origin under the top-level one, in this page's browser context)."""
    context_id = page.context.new_cdp_session(page).send("Target.getTargetInfo")["targetInfo"]["browserContextId"]
    page.context.browser.new_browser_cdp_session().send("Browser.setPermission", {
        "permission": {"name": "storage-access"}, "setting": "granted", "origin": lms.base_url,
        "embeddedOrigin": lms.tool_origin, "browserContextId": context_id})


def test_learner_launch_in_a_cross_site_iframe_shows_the_tool_page(lms, page):
    login, _ = lms.next_launch(person="learner")
    page.goto(lms.course_page_url(login))

    frame = _tool_frame(page)
    frame.locator("h1").wait_for(timeout=15000)
    text = frame.locator("body").inner_text()
    assert "not set up yet" in text
    shot = screenshot(page, "launch-learner-unbound")
    assert shot.stat().st_size > 5000
    assert_accessible(frame, "launch-learner-unbound")


def test_launch_works_through_postmessage_storage_when_cookies_never_arrive(lms, page):
    lose_cookies_during_login(page, lms)
    login, _ = lms.next_launch(person="learner")
    page.goto(lms.course_page_url(login, storage=True))

    frame = _tool_frame(page)
    frame.get_by_text("not set up yet").wait_for(timeout=15000)
    screenshot(page, "launch-learner-postmessage-storage")
    assert_accessible(frame, "launch-learner-postmessage-storage")


def test_without_cookies_or_storage_the_course_opens_in_a_new_window_and_launches_again(lms, page):
    """The fallback never replays the login (the LMS's hints are single-use): its link opens the LMS's own page from
    the launch's return URL in a first-party window, whose activity page launches the tool under a fresh hint."""
    lose_cookies_during_login(page, lms)
    spent_before, errors_before = set(lms.used_hints), len(lms.auth_errors)  # the LMS serves every test
    login, _ = lms.next_launch(person="learner")
    page.goto(lms.course_page_url(login))

    frame = _tool_frame(page)
    link = frame.get_by_role("link", name="Open your course in a new window")
    link.wait_for(timeout=15000)
    href = link.get_attribute("href")
    assert href.startswith(lms.return_url + "?") and login["lti_message_hint"] not in href
    assert (link.get_attribute("target"), link.get_attribute("rel")) == ("_blank", "noopener")
    screenshot(page, "launch-fallback-new-window")
    assert_accessible(frame, "launch-fallback-new-window")

    with page.expect_popup() as popup_info:
        link.click()
    popup = popup_info.value
    popup.wait_for_url(f"{lms.base_url}/activity/activity-1?*", timeout=15000)
    course = popup.frame_locator("iframe#tool")
    course.get_by_text("not set up yet").wait_for(timeout=15000)
    assert "Ada Lovelace" in course.locator("body").inner_text()
    assert lms.auth_errors[errors_before:] == []  # the first hint was never sent again
    spent = lms.used_hints - spent_before
    assert login["lti_message_hint"] in spent and len(spent) == 2
    screenshot(popup, "launch-fallback-relaunched")
    assert_accessible(course, "launch-fallback-relaunched")


def test_with_the_storage_access_api_the_person_allows_cookies_and_the_lms_launches_again(lms, page):
    """Where the browser has `document.requestStorageAccess`, the fallback asks for it, then goes back through the LMS
    (the trusted return URL), whose activity page takes the whole window and launches the tool again."""
    # Browsers grant storage access only to a site the person has used as a top-level page before (Chromium:
    # "never been interacted with as a top-level context"), and only when the person accepts.
    page.goto(lms.tool_origin + "/lti/config")
    page.get_by_role("heading").first.click()
    _accept_storage_access_prompts(page, lms)
    lose_cookies_during_login(page, lms)
    spent_before, errors_before = set(lms.used_hints), len(lms.auth_errors)  # the LMS serves every test
    login, _ = lms.next_launch(person="learner")
    page.goto(lms.course_page_url(login))

    frame = _tool_frame(page)
    button = frame.get_by_role("button", name="Allow and open the activity again")
    button.wait_for(timeout=15000)
    screenshot(page, "launch-fallback-storage-access")
    assert_accessible(frame, "launch-fallback-storage-access")
    page.unroute_all()  # the grant: from now on the browser keeps the tool's cookies in this course page
    button.click()
    page.wait_for_url(f"{lms.base_url}/activity/activity-1?*", timeout=15000)
    _tool_frame(page).get_by_text("not set up yet").wait_for(timeout=15000)
    assert lms.auth_errors[errors_before:] == []
    spent = lms.used_hints - spent_before
    assert login["lti_message_hint"] in spent and len(spent) == 2


def test_a_refused_launch_shows_a_clear_page_inside_the_lms(lms, page):
    login, _ = lms.next_launch(person="learner", issued_at_offset=-900, lifetime=60)
    page.goto(lms.course_page_url(login))

    frame = _tool_frame(page)
    frame.get_by_text("expired", exact=False).first.wait_for(timeout=15000)
    link = frame.get_by_role("link", name="Back", exact=False).first
    assert "lti_errormsg" in link.get_attribute("href")
    screenshot(page, "launch-refused-expired")
    assert_accessible(frame, "launch-refused-expired")


@pytest.mark.csp_violation_expected("frame-ancestors")
def test_the_tool_refuses_to_be_framed_by_an_unregistered_site(lms, page):
    """A registered LMS's launch, framed by a page on a site no registration names: CSP frame-ancestors blocks it."""
    from flask import Flask

    from tests.conftest import LiveServer

    login, _ = lms.next_launch(person="learner")
    stranger = Flask("stranger")
    stranger.add_url_rule("/", "page", lambda: f'<iframe id="tool" name="tool" src="{lms.login_url(login)}"></iframe>')
    server = LiveServer(stranger).start()  # 127.0.0.1 on another port: another origin than the tool and the LMS
    try:
        with page.expect_response(lambda r: "/lti/home" in r.url) as landing:
            page.goto(server.url + "/")
        assert "frame-ancestors" in landing.value.headers["content-security-policy"]
        assert server.url not in landing.value.headers["content-security-policy"]
        page.wait_for_timeout(1000)
        framed = page.frame(name="tool")
        assert framed is not None
        assert "not set up yet" not in framed.content()  # the browser refused to show the tool's page
    finally:
        server.stop()


def test_an_instructor_places_a_micro_credential_by_deep_linking(lms, page, catalog):
    login, _ = lms.next_launch(person="instructor", message_type="LtiDeepLinkingRequest")
    page.goto(lms.course_page_url(login))

    frame = _tool_frame(page)
    frame.get_by_text("Educator Self-Assessment and Professional Growth").first.wait_for(timeout=15000)
    screenshot(page, "deep-linking-picker")
    assert_accessible(frame, "deep-linking-picker")
    frame.locator('button[value="feedback-to-promote-learning"]').click()
    frame.get_by_text("Added 1 item(s)").wait_for(timeout=15000)
    (item,) = lms.deep_link_responses[-1]["https://purl.imsglobal.org/spec/lti-dl/claim/content_items"]
    assert item["custom"] == {"microcredential": "feedback-to-promote-learning"}
