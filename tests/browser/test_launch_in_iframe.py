"""The launch as a person sees it: the LMS page frames the tool from another site, third-party cookies blocked."""

from __future__ import annotations

import pytest

from tests.browser.conftest import assert_accessible, screenshot

pytestmark = pytest.mark.browser


def _tool_frame(page):
    page.wait_for_selector("iframe#tool")
    return page.frame_locator("iframe#tool")


def _lose_cookies_during_login(page, lms) -> None:
    """Emulate a browser that drops even partitioned cookies in third-party frames (older Safari)."""

    def handle(route):
        response = route.fetch(max_redirects=0)
        headers = {k: v for k, v in response.headers.items() if k.lower() not in ("set-cookie", "content-length")}
        route.fulfill(status=response.status, headers=headers, body=response.body())

    page.route(f"{lms.tool_origin}/lti/login*", handle)


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
    _lose_cookies_during_login(page, lms)
    login, _ = lms.next_launch(person="learner")
    page.goto(lms.course_page_url(login, storage=True))

    frame = _tool_frame(page)
    frame.get_by_text("not set up yet").wait_for(timeout=15000)
    screenshot(page, "launch-learner-postmessage-storage")
    assert_accessible(frame, "launch-learner-postmessage-storage")


def test_without_cookies_or_storage_the_person_is_offered_a_new_window(lms, page):
    _lose_cookies_during_login(page, lms)
    login, _ = lms.next_launch(person="learner")
    page.goto(lms.course_page_url(login))

    frame = _tool_frame(page)
    frame.get_by_text("new window", exact=False).first.wait_for(timeout=15000)
    screenshot(page, "launch-new-window-fallback")
    assert_accessible(frame, "launch-new-window-fallback")
    page.unroute_all()
    with page.expect_popup() as popup_info:
        frame.get_by_role("link", name="Open in a new window").click()
    popup = popup_info.value
    popup.get_by_text("not set up yet").wait_for(timeout=15000)  # first-party: the state cookie is kept
    assert_accessible(popup, "launch-new-window-popup")


def test_a_refused_launch_shows_a_clear_page_inside_the_lms(lms, page):
    login, _ = lms.next_launch(person="learner", issued_at_offset=-900, lifetime=60)
    page.goto(lms.course_page_url(login))

    frame = _tool_frame(page)
    frame.get_by_text("expired", exact=False).first.wait_for(timeout=15000)
    link = frame.get_by_role("link", name="Back", exact=False).first
    assert "lti_errormsg" in link.get_attribute("href")
    screenshot(page, "launch-refused-expired")
    assert_accessible(frame, "launch-refused-expired")


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
