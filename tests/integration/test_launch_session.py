"""The session after a launch, over real HTTP: a launch reference copied out of a page is of no use to anyone else.

- A browser that keeps cookies is bound (partitioned `lti_browser` cookie): its links work there only.
- A browser without cookies (postMessage storage launch) gets short-lived references its page renews.
- Changes come only from the tool's own pages, with the reference in the body.
"""

from __future__ import annotations

import html
import json
import re
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from tests.nothing_changed import nothing_changes
from tests.platform.browser import PlatformBrowser, forms_in

pytestmark = pytest.mark.usefixtures("running_term")

SLUG = "self-assessment-growth"
SESSION_META = re.compile(r'<meta name="lti-session" content="([^"]+)" data-renew-url="([^"]+)"')
CROSS_SITE = {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}


def _page(browser) -> requests.Response:
    """The educator's submission page, reached by a whole launch in a browser that keeps cookies."""
    result = browser.launch(person="learner", custom={"microcredential": SLUG})
    assert result.status_code == 200 and "/submission/" in result.url, result.text[:500]
    return result.response


def _storage_page(browser) -> requests.Response:
    """The same page, launched through the platform's postMessage storage: this browser keeps no cookie."""
    login, _ = browser.platform.next_launch(person="learner", custom={"microcredential": SLUG})
    login["lti_storage_target"] = "_parent"
    page = browser.start_login(login)
    data = re.search(r'<script type="application/json" id="login-storage">(.*?)</script>', page.text, re.S)
    assert data, page.text[:1000]
    fields = forms_in(browser.get(json.loads(data.group(1))["auth_url"], allow_redirects=False).text)[0]["fields"]
    browser.session.cookies.clear()
    storage_checked = {"id_token": fields["id_token"], "state": fields["state"], "lti_storage_verified": "1"}
    response = browser.post(browser.platform.tool_launch_url, data=storage_checked,
                            headers={"Origin": browser.platform.tool_origin})
    assert response.status_code == 200 and "/submission/" in response.url, response.text[:500]
    assert not browser.session.cookies, "a launch without cookies set a cookie"
    return response


def _ltik(url: str) -> str:
    return parse_qs(urlsplit(url).query)["ltik"][0]


def _fields(response) -> dict:
    return forms_in(response.text)[0]["fields"]


def _overview(app, attempt_id) -> str | None:
    from lti_tool.extensions import db
    from lti_tool.submissions.models import Attempt

    with app.app_context():
        return db.session.get(Attempt, int(attempt_id)).overview


def _save(browser, page, headers=None, query: dict | None = None, **values):
    fields = {**_fields(page), "action": "save", **values}
    url = browser.platform.tool_origin + "/submission/" + ("?" + urlencode(query) if query else "")
    return browser.post(url, data=fields, headers=headers or {}, allow_redirects=False)


# -- a browser that keeps cookies: bound ------------------------------------------------------------------
def test_a_launch_in_a_browser_with_cookies_sets_a_partitioned_browser_cookie(browser):
    page = _page(browser)
    launch_response = page.history[0]
    cookie = launch_response.headers["Set-Cookie"]
    assert "lti_browser=" in cookie
    for attribute in ("Secure", "HttpOnly", "SameSite=None", "Partitioned", "Path=/"):
        assert attribute in cookie, attribute
    assert 'name="lti-session"' not in page.text  # a bound page needs no renewal, so it carries no session token


def test_a_page_url_replayed_from_another_client_is_refused_at_once(app, browser, platform):
    page = _page(browser)
    for stranger in (requests.Session(), PlatformBrowser(platform).session):
        with nothing_changes(app):
            replayed = stranger.get(page.url, timeout=10)
        assert replayed.status_code == 403
        assert "another browser" in replayed.text
        assert "Self-Assessment" not in replayed.text
    assert browser.get(page.url).status_code == 200  # the person who launched keeps working


def test_a_bound_session_outlives_the_short_reference_lifetime(app, browser, monkeypatch):
    page = _page(browser)
    monkeypatch.setitem(app.config, "LTI_REFERENCE_MAX_AGE", 1)
    time.sleep(2.1)
    again = browser.get(page.url)
    assert again.status_code == 200
    assert _ltik(again.url) == _ltik(page.url)  # the address did not change ...
    assert _fields(again)["ltik"] != _fields(page)["ltik"]  # ... but the page's forms carry a fresh reference


def test_a_second_launch_in_the_same_browser_keeps_the_first_page_working(browser):
    first = _page(browser)
    second = _page(browser)
    assert browser.get(first.url).status_code == 200
    assert browser.get(second.url).status_code == 200


def test_every_response_signs_a_fresh_reference_for_its_links_and_forms(browser):
    page = _page(browser)
    time.sleep(1.1)  # references are signed to the second
    again = browser.get(page.url)
    assert _fields(again)["ltik"] != _ltik(page.url)


# -- changes: only from the tool's own pages, the reference in the body -------------------------------------
@pytest.mark.parametrize("headers", [
    CROSS_SITE,
    {"Origin": "https://evil.example"},
    {"Origin": "null"},  # an opaque origin (a sandboxed page, a data: URL) is nobody's
    {"Sec-Fetch-Site": "same-site", "Origin": "https://other.127.0.0.1.example"},
], ids=["cross-site", "foreign-origin", "null-origin", "same-site"])
def test_a_cross_origin_post_with_a_valid_reference_changes_nothing(app, browser, headers):
    page = _page(browser)
    attempt_id = _fields(page)["attempt_id"]
    before = _overview(app, attempt_id)
    with nothing_changes(app):
        refused = _save(browser, page, headers=headers, overview="Written by another site")
    assert refused.status_code in (401, 403), refused.text[:300]
    assert "own page" in html.unescape(refused.text)
    assert _overview(app, attempt_id) == before


def test_a_post_from_the_tools_own_page_is_accepted(app, browser):
    """Under `Referrer-Policy: no-referrer` the browser sends `Origin: null`: Sec-Fetch-Site decides."""
    page = _page(browser)
    saved = _save(browser, page, headers={"Sec-Fetch-Site": "same-origin", "Origin": "null"}, overview="Mine")
    assert saved.status_code in (200, 303), saved.text[:300]
    assert _overview(app, _fields(page)["attempt_id"]) == "Mine"
    by_origin = _save(browser, page, headers={"Origin": browser.platform.tool_origin}, overview="Mine again",
                      version=str(int(_fields(page)["version"]) + 1))
    assert by_origin.status_code in (200, 303), by_origin.text[:300]


def test_a_reference_in_the_query_string_of_a_post_is_ignored(app, browser):
    page = _page(browser)
    fields = _fields(page)
    body = {k: v for k, v in fields.items() if k != "ltik"}
    url = browser.platform.tool_origin + "/submission/?" + urlencode({"ltik": fields["ltik"]})
    with nothing_changes(app):
        refused = browser.post(url, data={**body, "action": "save", "overview": "From the query string"},
                               allow_redirects=False)
    assert refused.status_code in (401, 403)
    assert _overview(app, fields["attempt_id"]) != "From the query string"


# -- a browser without cookies: short-lived references, renewed by the page ---------------------------------
def test_an_unbound_page_carries_its_session_token_in_the_body_only(browser):
    page = _storage_page(browser)
    token, renew_url = SESSION_META.search(page.text).groups()
    assert renew_url == "/lti/session/renew"
    assert token not in page.url
    for form in forms_in(page.text):
        assert token not in form["action"] and token not in form["fields"].values()
    assert token not in " ".join(re.findall(r'href="([^"]*)"', page.text))


def test_an_unbound_reference_dies_after_its_lifetime_and_the_page_renews_it(app, browser, platform, monkeypatch):
    page = _storage_page(browser)
    session_token, renew_path = SESSION_META.search(page.text).groups()
    renew_url = platform.tool_origin + renew_path
    monkeypatch.setitem(app.config, "LTI_REFERENCE_MAX_AGE", 2)
    assert requests.get(page.url, timeout=10).status_code == 200  # unbound: anyone holding it, for a short time
    time.sleep(3.1)

    for client in (browser.session, requests.Session()):
        with nothing_changes(app):
            expired = client.get(page.url, timeout=10)
        assert expired.status_code == 401
        assert "expired" in expired.text and "anything you saved is kept" in expired.text

    renewed = browser.post(renew_url, headers={"X-Launch-Session": session_token, "Accept": "application/json"})
    assert renewed.status_code == 200
    assert renewed.headers["Cache-Control"] == "no-store"
    answer = renewed.json()
    assert answer["expires_in"] == 2
    fresh = browser.get(page.url.replace(_ltik(page.url), answer["ltik"]))
    assert fresh.status_code == 200 and "Self-Assessment" in fresh.text


@pytest.mark.parametrize("headers", [CROSS_SITE, {"Origin": "https://evil.example"}], ids=["cross-site", "origin"])
def test_the_session_cannot_be_renewed_from_another_site(app, browser, platform, headers):
    page = _storage_page(browser)
    session_token, renew_path = SESSION_META.search(page.text).groups()
    with nothing_changes(app):
        refused = browser.post(platform.tool_origin + renew_path,
                               headers={"X-Launch-Session": session_token, "Accept": "application/json", **headers})
    assert refused.status_code == 403
    assert "ltik" not in refused.json()


def test_a_reference_is_no_session_token(app, browser, platform):
    page = _storage_page(browser)
    with nothing_changes(app):
        refused = browser.post(platform.tool_origin + "/lti/session/renew",
                               headers={"X-Launch-Session": _ltik(page.url), "Accept": "application/json"})
    assert refused.status_code == 403
    assert "ltik" not in refused.json()


def test_the_session_ends_with_its_lifetime_and_the_page_is_told_what_to_do(app, browser, platform, monkeypatch):
    page = _storage_page(browser)
    session_token, renew_path = SESSION_META.search(page.text).groups()
    monkeypatch.setitem(app.config, "LTI_SESSION_MAX_AGE", 1)
    time.sleep(2.1)
    with nothing_changes(app):
        ended = browser.post(platform.tool_origin + renew_path,
                             headers={"X-Launch-Session": session_token, "Accept": "application/json"})
    assert ended.status_code == 401
    assert "ended" in ended.json()["message"]
    assert ended.json()["hint"] == "Open the activity again from your course; anything you saved is kept."


def test_a_bound_session_ends_too(app, browser, monkeypatch):
    page = _page(browser)
    monkeypatch.setitem(app.config, "LTI_SESSION_MAX_AGE", 1)
    time.sleep(2.1)
    with nothing_changes(app):
        ended = browser.get(page.url)
    assert ended.status_code == 401
    assert "Open the activity again from your course" in ended.text
