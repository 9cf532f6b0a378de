"""Who may frame each page (CSP `frame-ancestors`), the page policy, and the content-hashed page scripts.

A page after a launch may be framed by the platform that launched it and by no other registered LMS; a login or
launch answer by the platform named in the request; a page outside a launch by the tool alone; the badge's embed
card by any site; Dynamic Registration by the registering LMS.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
import requests

from lti_tool.lti.models import origin_of
from tests.nothing_changed import nothing_changes
from tests.platform.browser import PlatformBrowser

ROOT = Path(__file__).resolve().parents[2]
SCRIPT_SRC = re.compile(r'<script src="(/assets/js/[^"]+)"')


def _policy(response) -> dict[str, str]:
    header = response.headers["Content-Security-Policy"]
    directives = [d.strip() for d in header.split(";") if d.strip()]
    policy = {d.split(" ", 1)[0]: d.split(" ", 1)[1] if " " in d else "" for d in directives}
    assert len(policy) == len(directives), f"a directive twice: {header}"
    return policy


def _assert_page_policy(response) -> dict[str, str]:
    policy = _policy(response)
    assert policy["script-src"] == "'self'", "inline scripts must not run"
    assert policy["object-src"] == "'none'" and policy["base-uri"] == "'none'"
    assert policy["connect-src"] == "'self'"
    return policy


def _ancestors(response) -> set[str]:
    return set(_assert_page_policy(response)["frame-ancestors"].split())


# -- pages after a launch ---------------------------------------------------------------------------------
def test_a_launched_page_may_be_framed_by_its_own_platform_and_by_no_other(app, platform, other_platform):
    origin_a, origin_b = origin_of(platform.issuer), origin_of(other_platform.issuer)
    assert origin_a != origin_b

    browser_a = PlatformBrowser(platform)
    from_a = browser_a.launch()
    assert from_a.status_code == 200 and from_a.ltik, from_a.text[:300]
    assert _ancestors(from_a.response) == {"'self'", origin_a}

    from_b = PlatformBrowser(other_platform).launch()
    assert from_b.status_code == 200 and from_b.ltik
    assert _ancestors(from_b.response) == {"'self'", origin_b}

    # The next page of each session keeps naming its own platform only.
    again_a = browser_a.get(from_a.url)
    assert again_a.status_code == 200 and _ancestors(again_a) == {"'self'", origin_a}


def test_the_login_page_and_a_refused_launch_may_be_framed_by_the_platform_named_in_the_request(
        app, browser, platform, other_platform):
    origin_a = origin_of(platform.issuer)

    login, _ = platform.next_launch()
    login["lti_storage_target"] = "_parent"
    page = browser.start_login(login)
    assert page.status_code == 200 and 'id="login-storage"' in page.text
    assert _ancestors(page) == {"'self'", origin_a}

    login, _ = platform.next_launch()
    with nothing_changes(app):
        refused_login = browser.start_login({**login, "target_link_uri": "https://elsewhere.example/x"})
    assert refused_login.status_code == 400 and _ancestors(refused_login) == {"'self'", origin_a}

    login, _ = platform.next_launch(claims={"aud": "someone-else"})
    id_token, state = browser.authorize(browser.start_login(login))
    with nothing_changes(app):
        refused = browser.post_launch(id_token, state, follow=False)
    assert refused.status_code in (400, 401, 403) and _ancestors(refused) == {"'self'", origin_a}

    # An id_token that names no registered platform: the tool alone.
    with nothing_changes(app):
        garbage = browser.post_launch("not-a-token", "x", follow=False)
    assert garbage.status_code >= 400 and _ancestors(garbage) == {"'self'"}


def test_a_genuine_reference_refused_shows_its_message_inside_its_own_platform(app, platform, other_platform):
    """Another browser, or the session over: the refusal is a page the launching LMS may frame (not a blocked
    frame), and still no other platform's."""
    origin_a = origin_of(platform.issuer)
    launched = PlatformBrowser(platform).launch()
    assert launched.status_code == 200 and launched.ltik
    with nothing_changes(app):
        copied = PlatformBrowser(platform).get(launched.url)  # the same URL in another browser
    assert copied.status_code == 403 and "another browser" in copied.text
    assert _ancestors(copied) == {"'self'", origin_a}

    saved = app.config["LTI_SESSION_MAX_AGE"]
    app.config["LTI_SESSION_MAX_AGE"] = -1
    try:
        with nothing_changes(app):
            ended = PlatformBrowser(platform).get(launched.url)
    finally:
        app.config["LTI_SESSION_MAX_AGE"] = saved
    assert ended.status_code == 401 and "session with the tool has ended" in ended.text
    assert _ancestors(ended) == {"'self'", origin_a}

    with nothing_changes(app):
        forged = PlatformBrowser(platform).get(launched.url.replace(launched.ltik, launched.ltik[:-4] + "AAAA"))
    assert forged.status_code == 403 and _ancestors(forged) == {"'self'"}  # no genuine launch: nobody's frame


# -- pages outside a launch -------------------------------------------------------------------------------
def test_pages_outside_a_launch_may_be_framed_by_the_tool_alone(app, live_tool, platform, other_platform):
    for path in ("/lti/config", "/lti/home", "/lti/home?ltik=forged", "/no-such-page"):
        response = requests.get(live_tool.url + path, timeout=10)
        assert response.headers["Content-Type"].startswith("text/html"), path
        assert _ancestors(response) == {"'self'"}, path


def test_extra_frame_ancestors_are_added_where_a_page_may_be_framed(app, live_tool, platform):
    previous = app.config["EXTRA_FRAME_ANCESTORS"]
    app.config["EXTRA_FRAME_ANCESTORS"] = ("https://portal.example.edu",)
    try:
        outside = requests.get(live_tool.url + "/lti/config", timeout=10)
        assert _ancestors(outside) == {"'self'", "https://portal.example.edu"}
        launched = PlatformBrowser(platform).launch()
        assert _ancestors(launched.response) == {"'self'", origin_of(platform.issuer), "https://portal.example.edu"}
    finally:
        app.config["EXTRA_FRAME_ANCESTORS"] = previous


def test_dynamic_registration_may_be_framed_by_the_registering_lms_alone(app, live_tool, platform):
    previous = app.config["LTI_REGISTRATION_OPEN"]
    app.config["LTI_REGISTRATION_OPEN"] = False  # refused before any call to the LMS: an error page
    try:
        response = requests.get(live_tool.url + "/lti/register", timeout=10, params={
            "openid_configuration": "https://moodle.example.edu/mod/lti/openid-configuration.php"})
    finally:
        app.config["LTI_REGISTRATION_OPEN"] = previous
    assert response.status_code >= 400
    assert _ancestors(response) == {"'self'", "https://moodle.example.edu"}
    assert response.headers["Cache-Control"] == "no-store"


# -- the page scripts -------------------------------------------------------------------------------------
def _login_script(browser, platform) -> str:
    login, _ = platform.next_launch()
    login["lti_storage_target"] = "_parent"
    page = browser.start_login(login)
    [script] = SCRIPT_SRC.findall(page.text.split("</main>")[0].split("<main>")[1])
    return script


def test_page_scripts_have_content_hashed_urls_cached_for_a_year(browser, platform, live_tool):
    script = _login_script(browser, platform)
    source = (ROOT / "static" / "js" / "login-storage.js").read_bytes()
    digest = hashlib.sha256(source).hexdigest()[:16]
    assert script == f"/assets/js/login-storage.{digest}.js"

    response = requests.get(live_tool.url + script, timeout=10)
    assert response.status_code == 200 and response.content == source
    assert response.headers["Content-Type"].startswith("text/javascript")
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "Content-Security-Policy" not in response.headers  # a script, not a page

    wrong = script.replace(digest, "0" * 16)
    for path in (wrong, "/assets/js/login-storage.js", "/assets/js/login-storage." + digest[:8] + ".js",
                 "/assets/js/no-such-file." + digest + ".js"):
        assert requests.get(live_tool.url + path, timeout=10).status_code == 404, path


@pytest.mark.parametrize("outside", ["config/settings.py", "lti_tool/__init__.py"])
def test_a_hashed_url_never_reaches_outside_the_static_folder(live_tool, outside):
    """Even with the right digest of a file outside static/, and the dots escaped so no client removes them."""
    digest = hashlib.sha256((ROOT / outside).read_bytes()).hexdigest()[:16]
    stem, suffix = outside.rsplit(".", 1)
    for path in (f"/assets/..%2f{stem}.{digest}.{suffix}", f"/assets/js/..%2f..%2f{stem}.{digest}.{suffix}",
                 f"/assets/%2e%2e/{stem}.{digest}.{suffix}"):
        response = requests.get(live_tool.url + path, timeout=10)
        assert response.status_code == 404, path
        assert response.content != (ROOT / outside).read_bytes()


def test_the_page_policy_of_a_launched_page_costs_no_query(app, platform):
    """The launch's platform is known once its reference is checked: naming it in the headers reads nothing more."""
    from sqlalchemy import event

    from lti_tool.core import responses
    from lti_tool.extensions import db

    browser = PlatformBrowser(platform)
    launched = browser.launch()
    with app.app_context():
        engine = db.engine
    statements: list[str] = []

    def count(*args):
        statements.append(args[2])

    def statements_of_the_page() -> int:
        statements.clear()
        assert browser.get(launched.url).status_code == 200
        return len(statements)

    event.listen(engine, "before_cursor_execute", count)
    try:
        with_the_platform = statements_of_the_page()
        found_elsewhere = responses._launch_frame_origins
        responses._launch_frame_origins = lambda: ()
        try:
            without_it = statements_of_the_page()
        finally:
            responses._launch_frame_origins = found_elsewhere
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert with_the_platform == without_it
