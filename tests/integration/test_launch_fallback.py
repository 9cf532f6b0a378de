"""The fallback when the state cookie did not come back, against an LMS whose message hints are single-use.

The test platform forgets a launch on the first use of its `lti_message_hint` (as Moodle's `mod/lti/auth.php`
does), so a fallback that replays the login can only end on the LMS's "Invalid request". The fallback page must
instead send the person back through the LMS: the launch's return URL, whose activity page launches the tool
again under a fresh hint. Everything goes over real HTTP; the browser is the scripted `PlatformBrowser`.
"""

from __future__ import annotations

import base64
import json
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests

from tests.nothing_changed import nothing_changes
from tests.platform.browser import PlatformBrowser, forms_in, frame_src
from tests.platform.platform import LTI, PlatformKey


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[dict] = []
        self.scripts: list[str] = []
        self.elements: dict[str, dict] = {}

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "a" and attributes.get("href"):
            self.links.append(attributes)
        if tag == "script" and attributes.get("src"):
            self.scripts.append(attributes["src"])
        if attributes.get("id"):
            self.elements[attributes["id"]] = attributes


def _page(html: str) -> _Links:
    parser = _Links()
    parser.feed(html)
    return parser


def _launch_without_its_cookie(app, browser: PlatformBrowser, **plan):
    """A launch whose partitioned state cookie the browser dropped inside the LMS frame (and no platform storage):
    refused, and nothing recorded until the launch comes back with its cookie."""
    login, _ = browser.platform.next_launch(**plan)
    id_token, state = browser.authorize(browser.start_login(login))
    browser.session.cookies.clear()
    with nothing_changes(app):
        response = browser.post_launch(id_token, state, follow=False)
    return login, id_token, response


def _return_url(id_token: str) -> str:
    return jwt.decode(id_token, options={"verify_signature": False})[LTI + "launch_presentation"]["return_url"]


def _course_link(page: _Links) -> dict | None:
    return next((link for link in page.links if link.get("id") == "course-link"), None)


# -- the platform behaves like Moodle ------------------------------------------------------------------------
def test_the_platform_accepts_a_message_hint_once(browser, platform):
    login, _ = platform.next_launch()
    assert browser.post_launch(*browser.authorize(browser.start_login(login))).status_code == 200

    replay = browser.get(browser.start_login(login).headers["Location"], allow_redirects=False)
    assert replay.status_code == 400
    assert "Invalid request" in replay.text
    assert "lti_message_hint already used" in platform.auth_errors


def test_the_return_url_leads_to_an_activity_page_that_launches_again_with_a_fresh_hint(browser, platform):
    login, _ = platform.next_launch(person="learner")
    id_token, state = browser.authorize(browser.start_login(login))
    assert browser.post_launch(id_token, state).status_code == 200

    activity = browser.get(_return_url(id_token))
    assert urlsplit(activity.url).path == "/activity/activity-1"
    hint = parse_qs(urlsplit(frame_src(activity.text)).query)["lti_message_hint"][0]
    assert hint != login["lti_message_hint"]
    again = browser.launch_from_lms_page(activity.url)
    assert again.status_code == 200 and again.ltik
    assert jwt.decode(again.id_token, options={"verify_signature": False})["sub"] == "user-learner-1"
    assert platform.auth_errors == []


# -- the fallback page --------------------------------------------------------------------------------------
def test_the_fallback_page_never_replays_the_login(app, browser, platform):
    login, id_token, response = _launch_without_its_cookie(app, browser)

    assert response.status_code == 401
    page = _page(response.text)
    for link in page.links:
        assert login["lti_message_hint"] not in link["href"]
        assert urlsplit(link["href"]).path != urlsplit(platform.tool_login_url).path
    assert login["lti_message_hint"] not in response.text


def test_the_fallback_link_opens_the_lms_page_of_the_launch_in_a_new_window(app, browser, platform):
    _, id_token, response = _launch_without_its_cookie(app, browser)

    link = _course_link(_page(response.text))
    assert link is not None, response.text
    assert link["href"] == _return_url(id_token)
    assert link["target"] == "_blank"
    assert "noopener" in link["rel"].split()
    assert "Open your course in a new window" in response.text


def test_following_the_fallback_link_ends_in_the_tool_after_a_fresh_launch(app, browser, platform):
    login, _, response = _launch_without_its_cookie(app, browser)
    link = _course_link(_page(response.text))

    # A first-party window: the LMS page launches the tool again, its cookie now kept.
    result = browser.launch_from_lms_page(link["href"])
    assert result.status_code == 200
    assert "not set up yet" in result.text and "Ada Lovelace" in result.text
    assert result.ltik
    assert platform.auth_errors == []  # no hint was used twice
    assert len(platform.used_hints) == 2 and login["lti_message_hint"] in platform.used_hints


def test_the_fallback_offers_storage_access_before_the_new_window(app, browser, platform, live_tool):
    _, id_token, response = _launch_without_its_cookie(app, browser)
    page = _page(response.text)

    offer = page.elements["storage-access"]
    assert "hidden" in offer  # shown by its script only where the browser has the Storage Access API
    assert offer["data-course-url"] == _return_url(id_token)  # it relaunches through the LMS as well
    assert page.elements["storage-access-button"]["type"] == "button"
    (script,) = [src for src in page.scripts if "storage-access" in src]
    served = requests.get(live_tool.url + script, timeout=5)
    assert served.status_code == 200
    assert "requestStorageAccess" in served.text
    assert "lti/login" not in served.text


def test_the_state_cookie_is_also_set_unpartitioned_for_a_storage_access_grant(browser, platform):
    login, _ = platform.next_launch()
    response = browser.start_login(login)
    state_cookies = [value for name, value in response.raw.headers.items()
                     if name.lower() == "set-cookie" and value.startswith("lti1p3-state-")]
    assert len(state_cookies) == 2
    assert sum("Partitioned" in cookie for cookie in state_cookies) == 1
    assert all("Secure" in cookie and "SameSite=None" in cookie and "HttpOnly" in cookie for cookie in state_cookies)


# -- no link from a token the tool cannot trust ---------------------------------------------------------------
def _no_link(response) -> None:
    assert response.status_code == 401
    page = _page(response.text)
    assert _course_link(page) is None
    assert "storage-access" not in page.elements
    assert not [link for link in page.links if link.get("target") == "_blank"]
    assert "open the activity again" in response.text


def test_a_return_url_on_another_origin_gets_no_link(app, browser, platform):
    _, _, response = _launch_without_its_cookie(
        app, browser, claims={LTI + "launch_presentation": {"return_url": "https://evil.example/phish"}})
    _no_link(response)
    assert "evil.example" not in response.text


def test_without_a_return_url_the_page_says_to_open_the_activity_from_the_course(app, browser, platform):
    _, _, response = _launch_without_its_cookie(app, browser, remove_claims=(LTI + "launch_presentation",))
    _no_link(response)


def _with_return_url(id_token: str, url: str) -> str:
    header, payload, signature = id_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims[LTI + "launch_presentation"]["return_url"] = url
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def test_a_forged_token_gets_no_link_even_to_the_lms_origin(app, browser, platform):
    """Anyone can post a token here: a path on the LMS's own origin (where users upload files) needs a signature."""
    login, _ = platform.next_launch()
    id_token, state = browser.authorize(browser.start_login(login))
    browser.session.cookies.clear()
    phishing = platform.base_url + "/pluginfile.php/uploaded-by-a-student.html"
    with nothing_changes(app):
        response = browser.post_launch(_with_return_url(id_token, phishing), state, follow=False)
    _no_link(response)
    assert "pluginfile" not in response.text


@pytest.mark.parametrize("plan", [{"signing_key": "unpublished"}, {"issued_at_offset": -900, "lifetime": 60}])
def test_a_token_that_does_not_verify_gets_no_link(app, browser, platform, plan):
    if plan.get("signing_key") == "unpublished":
        plan = {"signing_key": PlatformKey.generate()}
    _, _, response = _launch_without_its_cookie(app, browser, **plan)
    _no_link(response)


def test_the_storage_check_page_falls_back_to_the_lms_page_too(browser, platform):
    """A login that offered postMessage storage: the link shown if the storage does not answer goes through the LMS."""
    login, _ = platform.next_launch()
    login["lti_storage_target"] = "_parent"
    page = browser.start_login(login)
    (auth_url,) = [link["href"] for link in _page(page.text).links if link["href"].startswith(platform.auth_url)]
    fields = forms_in(browser.get(auth_url, allow_redirects=False).text)[0]["fields"]
    browser.session.cookies.clear()
    response = browser.post_launch(fields["id_token"], fields["state"], follow=False)

    assert response.status_code == 200 and "launch-storage-check" in response.text
    assert login["lti_message_hint"] not in response.text
    (link,) = [link for link in _page(response.text).links if link.get("target") == "_blank"]
    assert link["href"] == _return_url(fields["id_token"])


@pytest.mark.parametrize("body", [{"aud": "x"}, {"iss": 7, "aud": "x"}, {"iss": "https://lms.example"}, {}],
                         ids=["no-iss", "iss-not-text", "no-aud", "empty"])
def test_a_token_without_the_claims_to_check_it_gets_a_clear_refusal_not_an_error(app, live_tool, body):
    """Anyone may post anything with a state the tool never saw: the answer is the fallback page, never a 500."""
    header = base64.urlsafe_b64encode(json.dumps({"alg": "RS256", "kid": "k"}).encode()).rstrip(b"=").decode()
    payload = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
    with nothing_changes(app):
        response = requests.post(live_tool.url + "/lti/launch", data={"id_token": f"{header}.{payload}.c2ln",
                                                                       "state": "state-never-issued"}, timeout=10)
    assert response.status_code == 401, response.text[:300]
    _no_link(response)
