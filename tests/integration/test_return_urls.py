"""Which return URLs of the platform become links: one rule (`lti.return_urls.platform_link`) on every page.

Through real HTTP with the independent platform: the "not set up yet" page, a refused launch's page (with
`lti_errormsg`) and the fallback page of a launch whose state cookie was dropped show "Back to your course" only
for an http(s) URL on an origin of the launching platform's registration; anything else gives no link and words
instead. A good link is followed to where it arrives: the platform's return page.
"""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.platform.browser import PlatformBrowser
from tests.platform.platform import LTI

PRESENTATION = LTI + "launch_presentation"
DEEP_LINKING_SETTINGS = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
UNSAFE = [
    "javascript:alert(1)",
    "JaVaScRiPt:alert(document.domain)",
    " javascript:alert(1)",
    "\tjavascript:alert(1)",
    "java\nscript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "//evil.example/return",
    "https://evil.example/mod/lti/return.php",
    "https:\\\\evil.example/return",
    "vbscript:msgbox(1)",
    "/relative/return",
]


def _links(html: str) -> list[str]:
    return [unescape(href) for href in re.findall(r'<a [^>]*href="([^"]*)"', html)]


def _back_links(html: str) -> list[str]:
    return [unescape(href) for href in re.findall(r'<a [^>]*href="([^"]*)"[^>]*>Back to your course<', html)]


def _return_url(platform, url: str) -> dict:
    return {PRESENTATION: {"document_target": "iframe", "return_url": url}}


def _foreign_of(platform, path="/return?course=course-1") -> list[str]:
    """The platform's own return URL on look-alike origins: another port, a user name, upper case scheme trick."""
    parts = urlsplit(platform.base_url)
    host, port = parts.hostname, parts.port
    return [f"{parts.scheme}://{host}:{port + 1}{path}", f"{parts.scheme}://{host}:{port}@evil.example{path}"]


# -- the "not set up yet" page -------------------------------------------------------------------------------
@pytest.mark.parametrize("url", UNSAFE)
def test_an_unsafe_return_url_is_no_link_on_the_not_set_up_page(browser, platform, url):
    result = browser.launch(person="learner", claims=_return_url(platform, url))  # no micro-credential bound
    assert result.status_code == 200
    assert "This activity is not set up yet" in result.text
    assert _back_links(result.text) == []
    for href in _links(result.text):
        assert urlsplit(href).scheme in ("", "http", "https") and "evil" not in href and "script" not in href.lower()
    assert "javascript:" not in result.text.lower() and "data:text" not in result.text
    assert "use your course's own navigation" in result.text  # words instead of the link


def test_a_look_alike_origin_is_no_link(browser, platform):
    for url in _foreign_of(platform):
        result = browser.launch(person="learner", claims=_return_url(platform, url))
        assert _back_links(result.text) == [], url


def test_another_registered_platforms_return_url_is_no_link(browser, platform, other_platform):
    """Registered with the tool, but not the platform of this launch."""
    result = browser.launch(person="learner", claims=_return_url(platform, other_platform.return_url + "?x=1"))
    assert _back_links(result.text) == []


def test_the_platforms_return_url_is_the_link_and_leads_back_to_the_activity(browser, platform):
    result = browser.launch(person="learner")
    (back,) = _back_links(result.text)
    assert back.startswith(platform.return_url + "?")
    assert 'target="_parent"' in re.search(r'<a [^>]*>Back to your course<', result.text).group(0)

    arrived = browser.get(back)  # the platform's return page: it sends the person to the activity page
    assert arrived.status_code == 200
    assert urlsplit(arrived.url).path == "/activity/activity-1"
    assert platform.returns[-1]["instanceid"] == "activity-1"


# -- a refused launch's page ----------------------------------------------------------------------------------
def test_a_refused_launch_links_back_only_to_its_platform(browser, platform):
    good = browser.launch(person="learner", lifetime=-120)  # expired: refused, with the platform's return URL
    assert good.status_code == 401
    (back,) = _back_links(good.text)
    assert back.startswith(platform.return_url + "?")
    assert parse_qs(urlsplit(back).query)["lti_errormsg"] == ["The launch has expired before it reached the tool."]
    assert browser.get(back).text == "<p>Back in the LMS.</p>"  # followed: the platform shows the message
    assert platform.returns[-1]["lti_errormsg"] == "The launch has expired before it reached the tool."

    for url in [*UNSAFE, *_foreign_of(platform)]:
        refused = browser.launch(person="learner", lifetime=-120, claims=_return_url(platform, url))
        assert refused.status_code == 401
        assert _back_links(refused.text) == [], url
        assert "Close this window and open the activity again from your course." in refused.text


# -- the fallback page (state cookie dropped) -----------------------------------------------------------------
def _without_its_cookie(browser: PlatformBrowser, **plan):
    login, _ = browser.platform.next_launch(**plan)
    id_token, state = browser.authorize(browser.start_login(login))
    browser.session.cookies.clear()
    return browser.post_launch(id_token, state, follow=False)


@pytest.mark.parametrize("url", ["javascript:alert(1)", " javascript:alert(1)", "data:text/html,x",
                                 "//evil.example/return", "https://evil.example/return"])
def test_the_fallback_page_offers_no_unsafe_course_link(app, browser, platform, url):
    response = _without_its_cookie(browser, claims=_return_url(platform, url))
    assert response.status_code == 401
    assert "course-link" not in response.text and "data-course-url" not in response.text
    assert "Go back to your course and open the activity again." in response.text


def test_the_fallback_page_links_to_the_platforms_return_url(app, browser, platform):
    response = _without_its_cookie(browser)
    (href,) = re.findall(r'id="course-link" href="([^"]*)"', response.text)
    assert unescape(href).startswith(platform.return_url + "?")
    assert urlsplit(browser.get(unescape(href)).url).path == "/activity/activity-1"


# -- the rule itself, for what HTTP cannot send ---------------------------------------------------------------
def test_the_rule_accepts_only_web_addresses_on_the_registrations_origins(app_context):
    from lti_tool.lti.return_urls import platform_link, web_address

    class Registration:
        frame_origins = {"https://moodle.example", "https://sso.example:8443"}

    for url in ["https://moodle.example/mod/lti/return.php?course=2", "HTTPS://MOODLE.example/x",
                "https://sso.example:8443/return"]:
        assert platform_link(url, Registration()) == url
    for url in [*UNSAFE, "https://moodle.example.evil.example/x", "https://moodle.example:444/x",
                "http://moodle.example/x", "https://user@moodle.example/x", "https://moodle.example:bad/x",
                "https://moodle.example/\x00", None, 42, ""]:
        assert platform_link(url, Registration()) is None, url
    assert platform_link("https://moodle.example/x", None) is None
    assert web_address("https://anywhere.example/deep-link-return") == "https://anywhere.example/deep-link-return"
    assert web_address("javascript:alert(1)") is None


def test_on_canvas_the_institutions_host_frames_the_tool_and_its_return_url_is_the_link(app_context):
    """Canvas's issuer and login endpoint are Instructure's shared hosts; the course page (which frames the tool and
    is where return URLs lead) is the institution's own host, named by the registration's token endpoint."""
    from lti_tool.lti.models import Registration
    from lti_tool.lti.return_urls import platform_link
    from lti_tool.lti.tool_conf import RegistrationRecord

    canvas = Registration(issuer="https://canvas.instructure.com", client_id="10000000000001",
                          auth_login_url="https://sso.canvaslms.com/api/lti/authorize_redirect",
                          auth_token_url="https://school.instructure.com/login/oauth2/token",
                          auth_audience="https://school.instructure.com/login/oauth2/token", name="Canvas",
                          is_default_for_issuer=True, manages_catalog=False, is_active=True)
    for registration in (canvas, RegistrationRecord.of(canvas)):
        assert registration.frame_origins == {"https://canvas.instructure.com", "https://sso.canvaslms.com",
                                              "https://school.instructure.com"}
        back = "https://school.instructure.com/courses/7/external_content/success/external_tool_redirect"
        assert platform_link(back, registration) == back
        assert platform_link("https://other-school.instructure.com/courses/7", registration) is None


# -- the deep linking answer's target -------------------------------------------------------------------------
@pytest.mark.parametrize("url", ["javascript:alert(1)", " javascript:alert(1)", "data:text/html,x", "//evil.example/"])
def test_a_deep_linking_return_url_that_is_no_web_address_gets_no_signed_answer(browser, platform, catalog, url):
    settings = {"deep_link_return_url": url, "accept_types": ["ltiResourceLink"],
                "accept_presentation_document_targets": ["iframe"], "data": "opaque"}
    # Refused when the picker opens, before the instructor chooses anything: no choice to lose, nothing signed.
    answer = browser.launch(person="instructor", message_type="LtiDeepLinkingRequest",
                            claims={DEEP_LINKING_SETTINGS: settings})
    assert answer.status_code == 400
    assert "deep_link_return_url" in answer.text and 'name="JWT"' not in answer.text
    assert 'name="microcredential"' not in answer.text  # no picker
    assert url.strip() not in answer.text
    assert platform.deep_link_responses == []


def test_the_platforms_deep_linking_return_url_receives_the_signed_answer(browser, platform, catalog):
    picker = browser.launch(person="instructor", message_type="LtiDeepLinkingRequest")
    answer = browser.submit_form(picker.response, microcredential="self-assessment-growth")
    assert answer.status_code == 200
    arrived = browser.submit_form(answer)  # what the page's auto-submit does
    assert arrived.status_code == 200 and "Added 1 item(s)." in arrived.text
    assert len(platform.deep_link_responses) == 1
